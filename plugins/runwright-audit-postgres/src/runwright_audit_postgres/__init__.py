"""runwright's PostgreSQL audit backend (``postgresql://`` URLs); see ``backend.py``."""
