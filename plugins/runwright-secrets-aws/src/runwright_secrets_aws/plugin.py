"""The secret-source hook of runwright-secrets-aws."""
