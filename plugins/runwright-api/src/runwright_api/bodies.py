"""Request bodies: at most ``max_bytes`` however they are sent, and JSON that Python and every
store can hold, checked before a route sees them.

The body is read here in full (it is small) and handed on unchanged, so a chunked body over the
limit is refused like one with a ``Content-Length``, and a JSON body with ``NaN``, ``1e999``, a
lone surrogate, a 5,000-digit number or thousands of nested brackets is a 422 naming the problem,
never a 500 later when the value is stored or printed.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runwright_api.security import send_json

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32


class BodyProblem(ValueError):
    """Why a JSON body is refused, in words for the person who sent it."""


def refuse_constant(name: str) -> Any:
    raise BodyProblem(f"{name} is not a JSON number (send a finite number, or a string)")


def finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise BodyProblem(f"the number {text[:40]} is too large for a float")
    return value


def check_strings_and_depth(value: Any) -> None:
    """Walk ``value`` without recursion: nesting at most ``MAX_JSON_DEPTH``, every string and
    key encodable as UTF-8 (no lone surrogates)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            check_text(item)
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise BodyProblem(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                for key, inner in item.items():
                    check_text(key)
                    stack.append((inner, depth + 1))
            else:
                stack.extend((inner, depth + 1) for inner in item)


def check_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise BodyProblem(f"a string holds a lone surrogate (\\u{code:04x}), which is not text") from None


def json_body_problem(body: bytes) -> str:
    """'' when ``body`` is JSON runwright accepts, else what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the body is not UTF-8 (byte {exc.start})"
    try:
        value = json.loads(text, parse_constant=refuse_constant, parse_float=finite_float)
        check_strings_and_depth(value)
    except BodyProblem as exc:
        return str(exc)
    except RecursionError:
        return f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels"
    except json.JSONDecodeError as exc:
        return f"the body is not JSON: {exc}"
    except ValueError as exc:  # int(): more digits than Python converts
        return f"the body holds a number Python cannot read: {str(exc)[:120]}"
    return ""


def is_json(content_type: str) -> bool:
    """What FastAPI parses as JSON: no content type, ``application/json`` or ``*/*+json``."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return (
        not kind or kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))
    )


class RequestBodyGuard:
    """413 for a body over ``max_bytes`` (declared or streamed), 422 for JSON that is not
    plain, finite, UTF-8 and shallow; the app then reads the same body from memory."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = {"error": "request body too large", "detail": f"the limit is {self.max_bytes} bytes"}
        content_type = ""
        for key, value in scope.get("headers", []):
            if key == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await send_json(send, 413, too_big)
                return
            if key == b"content-type":
                content_type = value.decode("latin-1")
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await send_json(send, 413, too_big)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and is_json(content_type) and (problem := json_body_problem(body)):
            await send_json(send, 422, {"error": "invalid request", "detail": problem})
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
