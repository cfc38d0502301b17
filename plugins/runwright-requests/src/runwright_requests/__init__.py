"""runwright-requests: HTTP and S3 call functions for runwright (`tasks/*@requests`)."""

__version__ = "0.1.0"
