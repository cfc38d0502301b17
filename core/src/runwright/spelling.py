"""Did-you-mean for every kind of name: keys, params, stage ids, jobs, filters, time zones...

A true edit distance in which swapping two neighbouring letters is one edit (``mdoe`` ->
``mode``), case and ``_``/``-`` not counted, within a bound that grows with the word; and the
names other tools use for the same thing (``integer`` -> ``int``, ``steps`` -> ``stages``).
Measured against ``difflib`` on the suggestions the checker makes: difflib suggested ``center``
for ``integer`` and nothing for ``Europe/Berln`` or ``prepair``.
"""

from __future__ import annotations

from collections.abc import Iterable

OTHER_TOOLS: dict[str, tuple[str, ...]] = {
    # param types (JSON schema, Airflow, Prefect)
    "integer": ("int",),
    "string": ("str",),
    "text": ("str",),
    "boolean": ("bool",),
    "number": ("float", "decimal"),
    "double": ("float",),
    "object": ("map",),
    "dict": ("map",),
    "mapping": ("map",),
    "list": ("array",),
    "enum": ("choice",),
    "timestamp": ("datetime",),
    # filters
    "date_format": ("fmt",),
    "strftime": ("fmt",),
    "format_date": ("fmt",),
    "datetime_format": ("fmt",),
    # template keys (GitHub Actions, GitLab CI, Airflow, Argo)
    "steps": ("stages",),
    "tasks": ("stages",),
    "depends_on": ("needs",),
    "dependencies": ("needs",),
    "depends": ("needs",),
    "requires": ("needs",),
    "upstream": ("needs",),
    "runs_on": ("runs-on",),
    "runson": ("runs-on",),
    "executor": ("runs-on",),
    "timeout": ("timeout-minutes",),
    "retries": ("retry",),
    "script": ("bash",),
    "shell": ("bash",),
    "python": ("run",),
    "cron": ("cronjob",),
    "schedule": ("cronjob", "on"),
    "tz": ("timezone",),
    "time_zone": ("timezone",),
    "env": ("vars",),
    "with_items": ("foreach",),
    "loop": ("foreach",),
    "matrix": ("strategy",),
    "parallelism": ("max-parallel",),
    "concurrency": ("max-parallel",),
    "allow_failure": ("continue-on-error",),
    "ignore_errors": ("continue-on-error",),
    "when": ("if",),
    "condition": ("if",),
    "args": ("with",),
    "inputs": ("with", "params"),
    "parameters": ("params",),
}
"""A name another tool uses -> what runwright calls it (suggested when it is a choice here)."""


def normalised(name: str) -> str:
    """Case and ``_``/``-`` do not count (``runs_on``, ``runsOn``, ``RUNS-ON``)."""
    return name.lower().replace("_", "-")


def distance(a: str, b: str) -> int:
    """Edits from ``a`` to ``b``: insert, delete, replace, or swap two neighbours (optimal
    string alignment distance)."""
    if len(a) < len(b):
        a, b = b, a
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, previous = previous, current
    return previous[-1]


def allowed_edits(word: str) -> int:
    """How far a suggestion may be: none for 1-2 letters, 1 up to 5, 2 up to 9, then 3."""
    size = len(word)
    return 0 if size <= 2 else 1 if size <= 5 else 2 if size <= 9 else 3


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` most likely meant, or None when none is close enough."""
    options = sorted({str(choice) for choice in choices} - {word})
    if not options:
        return None
    key = normalised(word)
    for meant in OTHER_TOOLS.get(key.replace("-", "_"), ()) + OTHER_TOOLS.get(word, ()):
        if meant in options:
            return meant
    limit = allowed_edits(key)
    best: tuple[int, str] | None = None
    for option in options:
        other = normalised(option)
        if abs(len(other) - len(key)) > limit:
            continue
        edits = distance(key, other)
        if edits <= limit and (best is None or edits < best[0]):
            best = (edits, option)
    return best[1] if best else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` or nothing: the tail of a message about an unknown name."""
    meant = closest(word, choices)
    return f" (did you mean '{meant}'?)" if meant else ""
