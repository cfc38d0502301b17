"""``${{ ... }}`` expressions, rendered in jinja2's sandbox with native types."""

from runwright.templating.engine import CompiledValue, ExpressionEngine, has_expression

__all__ = ["CompiledValue", "ExpressionEngine", "has_expression"]
