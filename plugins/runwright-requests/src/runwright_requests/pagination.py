"""The `pagination:` argument and finding the next page's URL.

Two ways an API says where the next page is: a `Link: <url>; rel="next"` header
(`type: next-link`) or a URL inside the JSON body (`type: json-path`, `next-url-path`).
`max-pages` bounds the loop either way. Following pages are fetched with GET (the next URL
carries its own query), unless `repeat-request: true` sends the first request's method,
headers and body again to each next URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ArgumentError
from .jsonpath import JsonPath

if TYPE_CHECKING:
    import requests


def _hyphenate(name: str) -> str:
    return name.replace("_", "-")


class PaginationSpec(BaseModel):
    """`{type: next-link|json-path, next-url-path: ..., max-pages: 100, items-path: ...}`."""

    # built on first use, not when `runwright plugins` or a run imports this module to list calls
    # (the first model a process builds costs ~30 ms: pydantic reads every distribution's metadata)
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, alias_generator=_hyphenate, defer_build=True
    )

    type: Literal["next-link", "json-path"] | None = None
    next_url_path: str | None = None
    max_pages: int = Field(default=100, ge=1, le=100_000)
    items_path: str | None = None
    repeat_request: bool = False

    @model_validator(mode="after")
    def _infer_type(self) -> PaginationSpec:
        """A `next-url-path` alone means json-path; json-path without one is an error."""
        if self.type is None:
            self.type = "json-path" if self.next_url_path else "next-link"
        if self.type == "json-path" and not self.next_url_path:
            raise ValueError("pagination type json-path needs next-url-path")
        return self

    def next_path(self) -> JsonPath | None:
        if self.type != "json-path" or not self.next_url_path:
            return None
        return JsonPath.parse(self.next_url_path, argument="pagination.next-url-path")


def coerce_pagination(value: PaginationSpec | dict[str, Any] | None) -> PaginationSpec | None:
    """Accept an already validated spec or a plain mapping (a direct Python call)."""
    if value is None or isinstance(value, PaginationSpec):
        return value
    try:
        return PaginationSpec.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}".lstrip(": ")
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise ArgumentError(f"invalid pagination: {problems}") from None


def link_header_next(response: requests.Response) -> str | None:
    """The absolute URL of `Link: <...>; rel="next"`, if the response has one."""
    link = response.links.get("next")
    if not link or not link.get("url"):
        return None
    return urljoin(response.url, link["url"])


def resolve_next(current_url: str, value: Any) -> str | None:
    """A next-page value found in a body, made absolute; None/empty means the last page."""
    if value is None or value == "" or value is False:
        return None
    if not isinstance(value, str):
        raise ArgumentError(
            f"the value at pagination.next-url-path must be a URL string (got {type(value).__name__})"
        )
    return urljoin(current_url, value)
