"""OpenTelemetry spans for runwright runs (the ``make_run_tracer`` hook); see ``plugin``."""
