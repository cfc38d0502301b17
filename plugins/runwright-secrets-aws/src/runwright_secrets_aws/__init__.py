"""AWS Secrets Manager as a secret source (the ``secret_sources`` hook)."""
