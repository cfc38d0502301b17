"""``uses:`` resolves to a call function and ``with:`` matches its parameters.

Unknown keys, missing required ones and literal values of the wrong type are errors; a value
holding an expression (or an unset ``${VAR}``) has a type known only at run time and is not
judged.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, ValidationError

from runwright.check.issues import did_you_mean
from runwright.errors import CallResolutionError, RunwrightError
from runwright.hookspecs import hookimpl
from runwright.registry import parse_uses


def _is_literal(value: Any) -> bool:
    if isinstance(value, str):
        return "${" not in value
    if isinstance(value, dict):
        return all(_is_literal(v) for v in value.values())
    if isinstance(value, list):
        return all(_is_literal(v) for v in value)
    return True


@hookimpl
def check_stage(stage: Any, checker: Any) -> None:
    if getattr(stage, "kind", None) != "uses":
        return
    reference = stage.uses
    if "${" in reference:
        return
    runtime = checker.runtime
    try:
        parse_uses(reference)
        call = runtime.resolve_call(reference)
    except CallResolutionError as exc:
        known = sorted(c.reference for group in runtime.pm.hook.list_calls() for c in group)
        message = f"{exc.reason}{did_you_mean(reference, known)}"
        if exc.available is not None:
            message += f"; available: {', '.join(exc.available) or exc.NONE_AVAILABLE}"
        checker.report("uses-unknown", message, "uses")
        return
    except RunwrightError as exc:
        checker.report("uses-unknown", str(exc), "uses")
        return
    model, _ = call._build_model()
    fields = model.model_fields
    accepted = with_keys(fields)  # what with: may say -> the field it sets
    shown = {}  # each field once, as a user writes it
    for key, name in accepted.items():
        shown.setdefault(name, key)
    given: dict[str, tuple[str, Any]] = {}
    for key, value in (stage.with_ or {}).items():
        plain = str(key).replace("-", "_")
        name = accepted.get(str(key)) or accepted.get(plain) or accepted.get(f"_{plain}")
        if name is None:
            checker.report(
                "with-unknown-key",
                f"'{key}' is not a parameter of {call.reference}{did_you_mean(plain, accepted)} "
                f"(parameters: {', '.join(shown.values()) or 'none'})",
                ("with", key),
            )
            continue
        if name in given:
            checker.report(
                "with-unknown-key",
                f"'{given[name][0]}' and '{key}' both set the parameter '{shown[name]}' of "
                f"{call.reference}; give it once",
                ("with", key),
            )
            continue
        given[name] = (str(key), value)
    missing = [shown[name] for name, info in fields.items() if info.is_required() and name not in given]
    if missing:
        checker.report(
            "with-missing",
            f"{call.reference} requires {', '.join(repr(m) for m in missing)} in with: "
            f"(signature: {call.signature_text()})",
            "with" if stage.with_ else "uses",
        )
    literal = {
        key if key in accepted else shown[name]: value
        for name, (key, value) in given.items()
        if _is_literal(value)
    }
    if not literal:
        return
    try:
        model.model_validate(literal)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            if error["type"] == "missing" or not error["loc"]:
                continue
            used = str(error["loc"][0])
            if used not in literal:
                continue
            key = given[accepted[used]][0]
            inner = ".".join(str(p) for p in error["loc"][1:])
            checker.report(
                "with-type",
                f"'{key}{'.' + inner if inner else ''}' of {call.reference}: {error['msg']} "
                f"(got {error.get('input')!r})",
                ("with", key, *error["loc"][1:]),
            )


def with_keys(fields: dict[str, Any]) -> dict[str, str]:
    """Every key ``with:`` may use, mapped to its field (``exec``/``_exec`` both set ``_exec``)."""
    accepted: dict[str, str] = {}
    for name, info in fields.items():
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias or info.alias or name]
        for choice in choices:
            accepted[str(choice)] = name
    return accepted
