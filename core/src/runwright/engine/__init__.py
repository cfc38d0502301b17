"""Deciding what runs next (runner) apart from running it (stage kinds, executors)."""
