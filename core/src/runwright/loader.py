"""Find templates in a conf path, read YAML safely, substitute ``${VAR}``, build models.

Every ``*.yml``/``*.yaml`` under the conf path is read with a ``yaml.SafeLoader`` subclass (so
``on:`` stays the string ``on`` and duplicate keys are errors). Environment substitution and
model validation happen only for the template being loaded, so a missing variable in one
template never stops another from running.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from runwright.config import Settings
from runwright.errors import (
    ConfError,
    EnvSubstitutionError,
    Problem,
    TemplateError,
    WorkflowNotFound,
)
from runwright.masking import MASKER, is_secret_name

if TYPE_CHECKING:
    from runwright.runtime import Runtime

M = TypeVar("M", bound=BaseModel)

ENV_PATTERN = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::-([^}]*))?\}")


class TemplateYamlLoader(yaml.SafeLoader):
    """Safe YAML with YAML 1.2 booleans only (``on``/``yes``/``no`` stay strings) and no
    silently overwritten duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key '{key}' (first on line {seen[key] + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


TemplateYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
TemplateYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
TemplateYamlLoader.add_constructor(
    "tag:yaml.org,2002:map",
    lambda loader, node: loader.construct_mapping(node, deep=True),  # type: ignore[arg-type]
)


@dataclass(frozen=True)
class TemplateSource:
    """One template's raw mapping and where it came from."""

    name: str
    file: Path
    raw: Mapping[str, Any]
    line: int


def read_yaml(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfError(f"{file}: cannot read: {exc}") from None
    try:
        data = yaml.load(text, Loader=TemplateYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfError(f"{file}: invalid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfError(f"{file}: expected a mapping of template names to templates")
    return data


def _template_lines(file: Path) -> dict[str, int]:
    try:
        node = yaml.compose(file.read_text(encoding="utf-8"), Loader=TemplateYamlLoader)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): k.start_mark.line + 1 for k, _ in node.value}


def conf_files(conf_path: Path) -> list[Path]:
    if conf_path.is_file():
        return [conf_path]
    if not conf_path.is_dir():
        raise ConfError(f"conf path '{conf_path}' does not exist")
    return sorted(p for p in conf_path.rglob("*") if p.suffix in {".yml", ".yaml"} and p.is_file())


def discover(conf_path: Path) -> dict[str, TemplateSource]:
    """Every template in the conf path by name; the same name in two files is an error."""
    found: dict[str, TemplateSource] = {}
    for file in conf_files(conf_path):
        data = read_yaml(file)
        lines = _template_lines(file) if data else {}
        for name, raw in data.items():
            name = str(name)
            if not isinstance(raw, Mapping):
                raise ConfError(f"{file}: template '{name}' must be a mapping")
            if name in found:
                raise ConfError(
                    f"template '{name}' is defined twice: in {found[name].file} "
                    f"(line {found[name].line}) and in {file} (line {lines.get(name, 0)})"
                )
            found[name] = TemplateSource(name=name, file=file, raw=raw, line=lines.get(name, 0))
    return found


def substitute_env(
    value: Any,
    raw_text_keys: frozenset[str],
    environ: Mapping[str, str] | None = None,
    where: str = "",
) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string, except script bodies.

    Values of variables whose names mark secrets are registered with the masker.
    """
    env = os.environ if environ is None else environ

    current = [""]

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            result = env[name]
            if is_secret_name(name):
                MASKER.add(result)
            return result
        if default is not None:
            return default
        raise EnvSubstitutionError(
            f"{where}: {current[0] or '(top)'}: environment variable '{name}' is not set "
            f"(write ${{{name}:-default}} to give a default)"
        )

    def walk(item: Any, skip: bool, path: str) -> Any:
        if isinstance(item, str):
            if skip or "${" not in item:
                return item
            current[0] = path
            return ENV_PATTERN.sub(replace, item)
        if isinstance(item, Mapping):
            return {
                key: walk(val, key in raw_text_keys, f"{path}.{key}" if path else str(key))
                for key, val in item.items()
            }
        if isinstance(item, list):
            return [walk(val, False, f"{path}[{i}]") for i, val in enumerate(item)]
        return item

    return walk(value, False, "")


def error_path(loc: Iterable[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def problems_from(
    exc: ValidationError,
    vocabulary: Iterable[str],
    locate: Any = None,
) -> list[Problem]:
    """Turn pydantic errors into readable problems, suggesting close keys for typos.

    ``locate(loc)`` returns the keys allowed where an unknown key was found (preferred), else
    the whole ``vocabulary`` is searched.
    """
    all_words = sorted(set(vocabulary))
    problems = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        path = error_path(loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1]) if loc else "?"
            local = locate(loc[:-1]) if locate else None
            close = difflib.get_close_matches(key, sorted(local) if local else all_words, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            message = f"unknown key '{key}'{hint}"
        elif kind == "missing":
            message = "this key is required but missing"
        elif kind == "value_error":
            message = str(err["msg"]).removeprefix("Value error, ")
        else:
            got = err.get("input")
            shown = repr(got) if not isinstance(got, Mapping | list) else type(got).__name__
            message = f"{err['msg']} (got {shown})"
        problems.append(Problem(path=path, message=message))
    return problems


def model_vocabulary(models: Iterable[type[BaseModel]]) -> set[str]:
    """Every key any template model accepts (for 'did you mean' suggestions)."""
    words: set[str] = set()
    pending = list(models)
    seen: set[type[BaseModel]] = set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            words.add(field.alias or name)
            for arg in _nested_models(field.annotation):
                pending.append(arg)
    return words


def allowed_keys_at(
    model: type[BaseModel], raw: Any, loc: list[Any], stage_kinds: Mapping[str, type[BaseModel]]
) -> set[str] | None:
    """The keys the model at ``loc`` accepts, walking the raw data alongside the models."""
    from runwright.models.stage import AnyStage

    current: Any = model
    value = raw
    for part in loc:
        current = _unwrap_optional(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {f.alias or n: f for n, f in current.model_fields.items()}
            fields.update(current.model_fields)
            field = fields.get(part)
            if field is None or not isinstance(value, Mapping):
                return None
            current, value = field.annotation, value.get(part)
            continue
        if get_origin(current) not in (list, dict):
            return None
        current = get_args(current)[-1]
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
        if current is AnyStage:
            kinds = [stage_kinds[k] for k in value if k in stage_kinds] if isinstance(value, Mapping) else []
            if len(kinds) != 1:
                return None
            current = kinds[0]
    current = _unwrap_optional(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return {f.alias or n for n, f in current.model_fields.items()}
    return None


def _unwrap_optional(annotation: Any) -> Any:
    """``X | None`` -> ``X``; anything else unchanged."""
    if get_origin(annotation) in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in get_args(annotation):
        found.extend(_nested_models(arg))
    return found


def definition_hash(raw: Mapping[str, Any]) -> str:
    """A stable hash of a template's definition (before substitution: no secrets in it)."""
    text = json.dumps(raw, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_model(source: TemplateSource, runtime: Runtime, expected: type[M] | None = None) -> M:
    """Substitute env and validate one template into its model (Workflow, Schedule...)."""
    raw = dict(source.raw)
    template_type = raw.get("type")
    models = runtime.template_types
    if template_type not in models:
        known = ", ".join(sorted(models))
        problem = (
            "the key 'type' is missing"
            if template_type is None
            else f"unknown template type '{template_type}'"
        )
        raise TemplateError(
            source.file, source.name, [Problem("type", f"{problem} (expected one of: {known})")]
        )
    model = models[template_type]
    if expected is not None and not issubclass(model, expected):
        raise TemplateError(
            source.file,
            source.name,
            [Problem("type", f"is '{template_type}', expected '{expected.__name__}'")],
        )
    where = f"{source.file}: template '{source.name}'"
    try:
        raw = substitute_env(raw, runtime.raw_text_fields, where=where)
    except EnvSubstitutionError:
        raise
    raw.setdefault("name", source.name)
    try:
        instance = model.model_validate(raw, context=runtime.validation_context())
    except ValidationError as exc:
        vocabulary = model_vocabulary([model, *runtime.stage_kinds.values()]) | set(runtime.stage_kinds)

        def locate(loc: list[Any]) -> set[str] | None:
            return allowed_keys_at(model, raw, loc, runtime.stage_kinds)

        raise TemplateError(source.file, source.name, problems_from(exc, vocabulary, locate)) from None
    instance._runtime = runtime  # type: ignore[attr-defined]
    instance._conf_path = source.file.parent  # type: ignore[attr-defined]
    instance._source = source.file  # type: ignore[attr-defined]
    instance._definition_hash = definition_hash(source.raw)  # type: ignore[attr-defined]
    instance._raw = raw  # type: ignore[attr-defined]  # substituted: rebuilds it on a worker
    return instance  # type: ignore[return-value]


def load_template(name: str, path: str | Path | None, runtime: Runtime, expected: type[M] | None = None) -> M:
    conf_path = Path(path) if path is not None else Settings.from_env().conf_path
    sources = discover(conf_path)
    if name not in sources:
        close = difflib.get_close_matches(name, list(sources), n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise WorkflowNotFound(f"no template named '{name}' in '{conf_path}'{hint}")
    instance = build_model(sources[name], runtime, expected)
    instance._conf_path = conf_path  # type: ignore[attr-defined]
    return instance
