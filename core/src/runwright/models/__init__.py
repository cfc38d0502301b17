"""Pydantic models: the single source of truth for the template schema."""
