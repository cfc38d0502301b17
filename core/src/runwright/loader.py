"""Find templates in a conf path, read YAML safely, substitute ``${VAR}``, build models.

Every ``*.yml``/``*.yaml`` under the conf path is read with a ``yaml.SafeLoader`` subclass (so
``on:`` stays the string ``on`` and duplicate keys are errors). Environment substitution and
model validation happen only for the template being loaded, so a missing variable in one
template never stops another from running.
"""

from __future__ import annotations

import codecs
import gc
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from runwright.config import Limits, Settings
from runwright.errors import (
    ConfError,
    EnvSubstitutionError,
    Problem,
    TemplateError,
    WorkflowNotFound,
)
from runwright.masking import MASKER, is_secret_name
from runwright.secret_sources import SecretLookup
from runwright.spelling import closest, did_you_mean

if TYPE_CHECKING:
    from runwright.runtime import Runtime

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)

ENV_PATTERN = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::-([^}]*))?\}")


STR_TAG = "tag:yaml.org,2002:str"


class TemplateYamlLoader(yaml.SafeLoader):
    """Safe YAML with YAML 1.2 booleans only (``on``/``yes``/``no`` stay strings) and no
    silently overwritten duplicate keys.

    Composing counts depth and nodes against :class:`Limits`, so deep nesting and huge files
    stop early with a clear error instead of a ``RecursionError`` or a ``MemoryError``.
    """

    limits = Limits()
    _depth = 0
    _nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:  # type: ignore[override]
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > self.limits.max_yaml_depth:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested deeper than {self.limits.max_yaml_depth} levels (RUNWRIGHT_MAX_YAML_DEPTH)",
                    self.peek_event().start_mark,
                )
            if self._nodes > self.limits.max_yaml_nodes:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"has more than {self.limits.max_yaml_nodes} nodes (RUNWRIGHT_MAX_YAML_NODES)",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value Python cannot build (``2024-13-45``, a 5000-digit int) is a YAML error at
        its line, not a ``ValueError`` from deep inside PyYAML."""
        if node.tag == STR_TAG and type(node) is yaml.ScalarNode:
            return node.value  # what construct_yaml_str gives, without its dispatch (most nodes)
        try:  # named, not super(): the libyaml-based loader below reuses this method
            return yaml.constructor.BaseConstructor.construct_object(self, node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {exc}", node.start_mark
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # ``<<: *anchor`` keys may be overridden; only written keys must differ
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    "a mapping key must be a plain value (a name or a number), not a list or a mapping",
                    key_node.start_mark,
                )
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key '{key}' (first on line {seen[key] + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        # named, not super(): the libyaml-based loader below reuses this method
        return yaml.constructor.SafeConstructor.construct_mapping(self, node, deep=deep)


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

if getattr(yaml, "__with_libyaml__", False):

    class FastTemplateYamlLoader(yaml.CSafeLoader):  # type: ignore[name-defined,misc]
        """The same rules as :class:`TemplateYamlLoader`, parsed by libyaml (about 10x faster:
        ``runwright validate`` reads whole conf folders)."""

        limits = Limits()
        construct_mapping = TemplateYamlLoader.construct_mapping
        construct_object = TemplateYamlLoader.construct_object

    FastTemplateYamlLoader.yaml_implicit_resolvers = TemplateYamlLoader.yaml_implicit_resolvers
    FastTemplateYamlLoader.yaml_constructors = dict(TemplateYamlLoader.yaml_constructors)
    YAML_LOADER: type = FastTemplateYamlLoader
else:  # pragma: no cover - PyYAML built without libyaml
    YAML_LOADER = TemplateYamlLoader


@dataclass(frozen=True)
class TemplateSource:
    """One template's raw mapping and where it came from."""

    name: str
    file: Path
    raw: Mapping[str, Any]
    line: int
    root: Path | None = None  # the conf path it was found under (a run's state folder is beside it)


BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def read_text(file: Path, limits: Limits | None = None) -> str:
    """A template file's text: at most ``max_template_bytes``, UTF-8 only, never binary."""
    limits = limits or Limits.from_env()
    return decode_text(file, read_bytes(file, limits), limits)


def read_bytes(file: Path, limits: Limits) -> bytes:
    """At most ``max_template_bytes + 1`` bytes of a file (one more tells it is too large)."""
    try:
        with file.open("rb") as handle:
            return handle.read(limits.max_template_bytes + 1)
    except OSError as exc:
        raise ConfError(f"{file}: cannot read: {exc}") from None


def decode_text(file: Path, data: bytes, limits: Limits) -> str:
    """A template file's bytes as text: not too large, UTF-8 only, never binary."""
    if len(data) > limits.max_template_bytes:
        raise ConfError(
            f"{file}: the file is larger than {limits.max_template_bytes} bytes "
            "(RUNWRIGHT_MAX_TEMPLATE_BYTES)"
        )
    for mark, encoding in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            raise ConfError(f"{file}: the file is {encoding} encoded; templates must be saved as UTF-8")
    if b"\x00" in data:
        raise ConfError(
            f"{file}: the file contains NUL bytes (a binary file, or UTF-16/UTF-32 text); "
            "templates must be UTF-8 text"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfError(
            f"{file}: the file is not valid UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); "
            "save it as UTF-8"
        ) from None


def check_expanded(root: yaml.Node, limits: Limits) -> None:
    """Refuse a document whose data, once every alias is replaced by what it names, holds more
    than ``max_yaml_nodes`` nodes or nests deeper than ``max_yaml_depth``.

    Measured on the composed graph (an alias is the same node object as its anchor), memoised
    per node, so a billion-laughs bomb is measured in microseconds and refused, and so is depth
    built from aliases of aliases; an alias that contains itself is refused too (its data would
    be infinite).
    """
    measured: dict[int, tuple[int, int]] = {}  # node -> (nodes, depth) once expanded
    open_nodes: set[int] = set()
    scalar_node = yaml.ScalarNode

    def refuse(message: str, node: yaml.Node) -> yaml.composer.ComposerError:
        return yaml.composer.ComposerError(None, None, message, node.start_mark)

    def measure(node: yaml.Node) -> tuple[int, int]:
        key = id(node)
        if key in measured:
            return measured[key]
        if key in open_nodes:
            raise refuse("an alias refers to itself (a recursive anchor)", node)
        open_nodes.add(key)
        children: Iterable[yaml.Node] = ()
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        nodes, height = 0, 0
        for child in children:
            if type(child) is scalar_node:  # most nodes: one node, one level, nothing to recurse into
                nodes += 1
                height = height or 1
            else:
                size, child_height = measure(child)
                nodes += size
                height = max(height, child_height)
        open_nodes.discard(key)
        nodes, depth = nodes + 1, height + 1
        if nodes > limits.max_yaml_nodes:
            limit = limits.max_yaml_nodes
            raise refuse(f"has more than {limit} nodes, aliases expanded (RUNWRIGHT_MAX_YAML_NODES)", node)
        if depth > limits.max_yaml_depth:  # counted like composing does: every node is a level
            limit = limits.max_yaml_depth
            raise refuse(
                f"nested deeper than {limit} levels, aliases expanded (RUNWRIGHT_MAX_YAML_DEPTH)", node
            )
        measured[key] = (nodes, depth)
        return nodes, depth

    measure(root)


def parse_yaml(text: str, limits: Limits | None = None) -> Any:
    """Compose (libyaml when PyYAML has it), check the node budget of the composed graph with
    every alias expanded, then construct: safe YAML with bounded cost, parsed once."""
    loader = YAML_LOADER(text)
    loader.limits = limits or Limits.from_env()
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_expanded(node, loader.limits)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(file: Path) -> dict[str, Any]:
    limits = Limits.from_env()
    return yaml_mapping(file, read_text(file, limits), limits)


def yaml_mapping(file: Path, text: str, limits: Limits) -> dict[str, Any]:
    """A template file's text parsed: a mapping of names to templates (``{}`` when empty)."""
    try:
        data = parse_yaml(text, limits)
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # libyaml's own bound (1000) came before ours
            raise ConfError(
                f"{file}: invalid YAML: nested deeper than {limits.max_yaml_depth} levels "
                "(RUNWRIGHT_MAX_YAML_DEPTH)"
            ) from None
        raise ConfError(f"{file}: invalid YAML: {exc}") from None
    except RecursionError:
        raise ConfError(f"{file}: invalid YAML: nested too deeply (RUNWRIGHT_MAX_YAML_DEPTH)") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfError(f"{file}: expected a mapping of template names to templates")
    return data


TOP_LEVEL_KEY = re.compile(r"""^(?:"([^"]+)"|'([^']+)'|([^\s#'"\-{\[][^:#]*?))\s*:(?:\s|$)""", re.M)


def _template_lines(file: Path) -> dict[str, int]:
    """The line of each top-level key (a template's name), without parsing the file again."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    return template_lines(text)


def template_lines(text: str) -> dict[str, int]:
    """The line of each top-level key of a file's text."""
    lines: dict[str, int] = {}
    for match in TOP_LEVEL_KEY.finditer(text):
        name = next(group for group in match.groups() if group is not None)
        lines.setdefault(name, text.count("\n", 0, match.start()) + 1)
    return lines


def conf_files(conf_path: Path) -> list[Path]:
    if conf_path.is_file():
        return [conf_path]
    if not conf_path.is_dir():
        raise ConfError(f"conf path '{conf_path}' does not exist")
    return sorted(p for p in conf_path.rglob("*") if p.suffix in {".yml", ".yaml"} and p.is_file())


@contextmanager
def collection_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a conf folder is read: parsing allocates
    hundreds of thousands of objects that all stay alive, and each collection on the way
    walks all of them again (a third of the parse time for 10,000 templates; `validate`
    and the scheduler's start both read whole folders)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class BrokenConf:
    """A file (or one template of it) that cannot be read; the rest of the conf path still can."""

    file: Path
    message: str
    template: str | None = None
    line: int = 0


def discover(conf_path: Path, broken: list[BrokenConf] | None = None) -> dict[str, TemplateSource]:
    """Every template in the conf path by name; the same name in two files is an error.

    With ``broken`` (a list), a file that cannot be read is recorded there and skipped instead
    of stopping the discovery of every other file.
    """
    found: dict[str, TemplateSource] = {}
    for file in conf_files(conf_path):
        try:
            data = read_yaml(file)
        except ConfError as exc:
            if broken is None:
                raise
            broken.append(BrokenConf(file, str(exc), line=_error_line(str(exc))))
            continue
        lines = _template_lines(file) if data else {}
        for name, raw, line in templates_in(data, lines):
            problem = None
            if not isinstance(raw, Mapping):
                problem = f"{file}: template '{name}' must be a mapping"
            elif name in found:
                problem = (
                    f"template '{name}' is defined twice: in {found[name].file} "
                    f"(line {found[name].line}) and in {file} (line {line})"
                )
            if problem is not None:
                if broken is None:
                    raise ConfError(problem)
                broken.append(BrokenConf(file, problem, template=name, line=line))
                continue
            found[name] = TemplateSource(name=name, file=file, raw=raw, line=line, root=conf_path)
    return found


def templates_in(data: Mapping[str, Any], lines: Mapping[str, int]) -> list[tuple[str, Any, int]]:
    """(name, raw, line) of each template of one parsed file."""
    if is_single_template(data):  # the peer's layout: one template per file, `name:` inside
        return [(str(data["name"]), data, lines.get("name", 1))]
    return [(str(name), raw, lines.get(str(name), 0)) for name, raw in data.items()]


def is_single_template(data: Mapping[str, Any]) -> bool:
    """A file holding one un-nested template (``name: x`` and ``type: Workflow`` at the top)."""
    return isinstance(data.get("name"), str) and isinstance(data.get("type"), str)


def _error_line(message: str) -> int:
    """The line a YAML error message points at (``line 3, column 5``), else 0."""
    match = re.search(r"line (\d+), column", message)
    return int(match.group(1)) if match else 0


def substitute_env(
    value: Any,
    raw_text_keys: frozenset[str],
    environ: Mapping[str, str] | SecretLookup | None = None,
    where: str = "",
    missing: list[tuple[str, str]] | None = None,
    provided: Callable[[str], bool] | None = None,
    looked_in: str = "",
) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string, except script bodies.

    ``environ`` is where values come from: the environment, or a conf path's secret sources
    (:class:`runwright.secret_sources.SecretLookup`, which registers secret values with the
    masker itself). Values of environment variables whose names mark secrets are registered
    with the masker. Every unset variable without a default is named in one error (saying
    ``looked_in``); with ``missing`` given (a list), they are appended to it as ``(name, path)``
    instead and left as written (``runwright validate``), except those ``provided(name)`` says a
    secret source can give: left as written, their values not read.
    """
    env = os.environ if environ is None else environ
    registers = isinstance(env, SecretLookup)  # masks what it gives itself

    current = [""]
    unset: list[tuple[str, str]] = [] if missing is None else missing

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        result = env.get(name)  # one look: a source may be a remote store
        if result is not None:
            if not registers and is_secret_name(name):
                MASKER.keep(result, name=f"environment variable {name}")
            return result
        if default is not None:
            return default
        if provided is not None and provided(name):
            return match.group(0)
        unset.append((name, current[0] or "(top)"))
        return match.group(0)

    def walk(item: Any, skip: bool, path: str) -> Any:
        if isinstance(item, str):
            if skip or "${" not in item:
                return item
            current[0] = path
            return ENV_PATTERN.sub(replace, item)
        if isinstance(item, dict | Mapping):  # dict first: parsed YAML; the ABC check is slow
            return {
                key: walk(val, key in raw_text_keys, f"{path}.{key}" if path else str(key))
                for key, val in item.items()
            }
        if isinstance(item, list):
            return [walk(val, False, f"{path}[{i}]") for i, val in enumerate(item)]
        return item

    result = walk(value, False, "")
    if unset and missing is None:
        names = sorted({name for name, _ in unset})
        places = ", ".join(f"{name} (at {path})" for name, path in unset)
        sources = f"; looked in: {looked_in}" if looked_in else ""
        raise EnvSubstitutionError(
            f"{where}: environment variable(s) not set: {', '.join(names)}; used at {places}{sources} "
            "(write ${NAME:-default} to give a default)"
        )
    return result


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
            message = f"unknown key '{key}'{did_you_mean(key, local or all_words)}"
        elif kind == "union_tag_invalid":
            context = err.get("ctx") or {}
            tag = str(context.get("tag", "?"))
            field_name = str(context.get("discriminator", "type")).strip("'")
            expected = [t.strip(" '") for t in str(context.get("expected_tags", "")).split(",") if t.strip()]
            message = f"unknown {field_name} '{tag}'{did_you_mean(tag, expected)} "
            message += f"(expected one of: {', '.join(expected)})"
        elif kind == "missing":
            message = "this key is required but missing"
        elif kind == "value_error":
            message = str(err["msg"]).removeprefix("Value error, ")
        else:
            got = err.get("input")
            shown = repr(got) if not isinstance(got, Mapping | list) else type(got).__name__
            message = f"{err['msg']} (got {shown})"
        # a field holding a ${SECRET} that fails validation is named, its value masked
        problems.append(Problem(path=path, message=MASKER.mask(message), loc=tuple(loc)))
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


def build_model(
    source: TemplateSource,
    runtime: Runtime,
    expected: type[M] | None = None,
    missing_env: list[tuple[str, str]] | None = None,
) -> M:
    """Substitute env and validate one template into its model (Workflow, Schedule...).

    With ``missing_env`` (a list), unset ``${VAR}`` are collected there and left as written,
    so a template can be checked without its variables' values.
    """
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
    runtime.stage_kinds.load_named_in(raw)  # their raw text fields, before substituting
    secrets = runtime.secret_lookup(source.root or source.file.parent)
    if missing_env is None:
        raw = substitute_env(
            raw, runtime.raw_text_fields, secrets, where=where, looked_in=secrets.looked_in()
        )
    else:  # validate, list: the environment's values only; a name a source can give is fine
        raw = substitute_env(
            raw,
            runtime.raw_text_fields,
            where=where,
            missing=missing_env,
            provided=lambda name: secrets.provider(name) is not None,
        )
    raw.setdefault("name", source.name)
    try:
        instance = model.model_validate(raw, context=runtime.validation_context())
    except ValidationError as exc:
        vocabulary = model_vocabulary([model, *runtime.stage_kinds.values()]) | set(runtime.stage_kinds)

        def locate(loc: list[Any]) -> set[str] | None:
            return allowed_keys_at(model, raw, loc, runtime.stage_kinds)

        raise TemplateError(source.file, source.name, problems_from(exc, vocabulary, locate)) from None
    instance._runtime = runtime  # type: ignore[attr-defined]
    instance._conf_path = source.root or source.file.parent  # type: ignore[attr-defined]
    instance._source = source.file  # type: ignore[attr-defined]
    instance._definition_hash = definition_hash(source.raw)  # type: ignore[attr-defined]
    instance._raw = raw  # type: ignore[attr-defined]  # substituted: rebuilds it on a worker
    return instance  # type: ignore[return-value]


def load_template(name: str, path: str | Path | None, runtime: Runtime, expected: type[M] | None = None) -> M:
    """The template ``name`` built into its model; in a conf folder, through the template index
    (:mod:`runwright.conf_index`), so only its own file is read and parsed."""
    conf_path = Path(path) if path is not None else Settings.from_env().conf_path
    broken: list[BrokenConf] = []
    if conf_path.is_dir():
        from runwright.conf_index import lookup

        found = lookup(conf_path, name)
        source, names, broken = found.source, found.names, found.broken
    else:
        sources = discover(conf_path, broken)
        source, names = sources.get(name), list(sources)
    for problem in broken:
        if problem.template == name:
            raise ConfError(problem.message)
    if source is None and broken:
        raise ConfError("; ".join(problem.message for problem in broken))
    for problem in broken:
        log.warning("warning: skipped a broken template file: %s", problem.message.splitlines()[0])
    if source is None:
        meant = closest(name, names)
        hint = f"; did you mean '{meant}'?" if meant else ""
        raise WorkflowNotFound(f"no template named '{name}' in '{conf_path}'{hint}")
    instance = build_model(source, runtime, expected)
    instance._conf_path = conf_path  # type: ignore[attr-defined]
    if getattr(instance, "type", None) == "Workflow":  # loaded to be run: checked now, raised at run
        from runwright.check import prepare_check

        prepare_check(instance, runtime)
    return instance
