"""Example registry package for the templates in ``conf/``, written as a user would write one.

``uses: tasks/NAME@TAG`` finds functions marked ``@tag`` in ``runwright_contrib.tasks``;
``@custom_filter`` functions in any module here become template filters.
"""
