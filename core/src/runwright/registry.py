"""Call functions (``@tag``) and custom filters (``@custom_filter``), and how ``uses:`` finds them.

``uses: MODULE/NAME@TAG`` resolves only to functions explicitly marked with ``@tag`` in a module
that a plugin or ``RUNWRIGHT_REGISTRY`` names: never to an arbitrary import path written in a
template. Registries are scanned once and cached.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import pkgutil
import re
import sys
import threading
import types
import typing
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, create_model

from runwright.errors import CallArgumentError, CallResolutionError
from runwright.hookspecs import hookimpl

F = TypeVar("F", bound=Callable[..., Any])

TAG_ATTRIBUTE = "__runwright_call__"
FILTER_ATTRIBUTE = "__runwright_filter__"
RESERVED_PARAMETERS = frozenset({"trace", "cancel_event"})
USES_PATTERN = re.compile(r"^(?P<module>[^/@\s]+)/(?P<name>[^/@\s]+)@(?P<tag>[^/@\s]+)$")


@dataclass(frozen=True)
class TagMark:
    name: str | None
    tag: str


def tag(tag_name: str = "latest", *, alias: str | None = None) -> Callable[[F], F]:
    """Mark a function as a call function reachable by ``uses: MODULE/NAME@TAG``.

    The name is ``alias`` or the function's name with ``_`` turned into ``-``. The function is
    returned unchanged, so it stays a plain, testable Python function.
    """

    def mark(func: F) -> F:
        setattr(func, TAG_ATTRIBUTE, TagMark(name=alias, tag=tag_name))
        return func

    return mark


def custom_filter(name: str) -> Callable[[F], F]:
    """Mark a function in a registry module as the template filter ``name``."""

    def mark(func: F) -> F:
        setattr(func, FILTER_ATTRIBUTE, name)
        return func

    return mark


@dataclass
class CallFunction:
    """One resolved call function and the pydantic model that checks its ``with:``."""

    module: str
    name: str
    tag: str
    func: Callable[..., Any]
    provider: str = ""
    _args_model: type[BaseModel] | None = field(default=None, repr=False)
    _reserved: frozenset[str] = field(default=frozenset(), repr=False)
    _parameters: dict[str, str] = field(default_factory=dict, repr=False)
    _outputs: tuple[frozenset[str] | None] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def reference(self) -> str:
        return f"{self.module}/{self.name}@{self.tag}"

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    def _build_model(self) -> tuple[type[BaseModel], frozenset[str]]:
        with self._lock:
            if self._args_model is None:
                fields: dict[str, Any] = {}
                reserved: set[str] = set()
                for param in inspect.signature(self.func).parameters.values():
                    if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                        continue
                    if param.name in RESERVED_PARAMETERS:
                        reserved.add(param.name)
                        continue
                    annotation = Any if param.annotation is inspect.Parameter.empty else param.annotation
                    default = ... if param.default is inspect.Parameter.empty else param.default
                    fields[param.name] = (annotation, default)
                hints = _resolved_hints(self.func)
                for key in fields:
                    if key in hints:
                        fields[key] = (hints[key], fields[key][1])
                fields, self._parameters = _underscore_fields(fields)
                with warnings.catch_warnings():
                    # an argument named like a BaseModel attribute (json, copy) is fine here
                    warnings.filterwarnings("ignore", message="Field name .* shadows")
                    self._args_model = create_model(  # type: ignore[call-overload]
                        f"Args_{self.name.replace('-', '_')}",
                        __config__=ConfigDict(
                            extra="forbid",
                            arbitrary_types_allowed=True,
                            coerce_numbers_to_str=True,
                        ),
                        **fields,
                    )
                self._reserved = frozenset(reserved)
            return self._args_model, self._reserved

    def validate_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check ``with:`` against the function's hints; hyphenated keys map to underscores."""
        model, _ = self._build_model()
        normalised = {str(k).replace("-", "_"): v for k, v in arguments.items()}
        try:
            validated = model.model_validate(normalised)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(arguments)'}: {err['msg']}"
                for err in exc.errors()
            )
            raise CallArgumentError(f"uses '{self.reference}': bad arguments: {problems}") from None
        names = self._parameters
        return {names.get(name, name): getattr(validated, name) for name in type(validated).model_fields}

    def reserved_parameters(self) -> frozenset[str]:
        return self._build_model()[1]

    def output_names(self) -> frozenset[str] | None:
        """The keys the function's result can have, from its return annotation: a TypedDict,
        a dataclass, a pydantic model (by alias), ``None``, or a union of those; None (not
        known) for ``dict``, ``Any``, no annotation or anything else."""
        if self._outputs is None:  # resolving hints costs ~0.1 ms: once per function
            hints = _resolved_hints(self.func)
            self._outputs = (result_keys(hints["return"]) if "return" in hints else None,)
        return self._outputs[0]

    def signature_text(self) -> str:
        try:
            signature = inspect.signature(self.func, eval_str=True)
        except (NameError, TypeError):
            signature = inspect.signature(self.func)
        shown = [p for name, p in signature.parameters.items() if name not in RESERVED_PARAMETERS]
        return f"{self.reference}{signature.replace(parameters=shown)}"


def _underscore_fields(
    fields: dict[str, tuple[Any, Any]],
) -> tuple[dict[str, tuple[Any, Any]], dict[str, str]]:
    """A ``_exec`` parameter (named so to dodge a keyword or builtin) is written ``exec:`` or
    ``_exec:`` in ``with:``; pydantic keeps ``_`` names private, so it gets a plain field name.

    Returns the fields and, for the renamed ones, field name -> parameter name.
    """
    renamed: dict[str, tuple[Any, Any]] = {}
    parameters: dict[str, str] = {}
    for name, (annotation, default) in fields.items():
        plain = name.lstrip("_")
        if not name.startswith("_") or not plain:
            renamed[name] = (annotation, default)
            continue
        choices = [name] if plain in fields else [plain, name]
        field_name = f"rw_underscore_{plain}"
        parameters[field_name] = name
        renamed[field_name] = (
            annotation,
            Field(default, validation_alias=AliasChoices(*choices)),
        )
    return renamed, parameters


def result_keys(annotation: Any) -> frozenset[str] | None:
    """The keys a value of type ``annotation`` turns into as a stage's outputs (see
    :meth:`CallFunction.output_names`)."""
    if annotation is None or annotation is type(None):
        return frozenset()
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        keys: set[str] = set()
        for arg in typing.get_args(annotation):
            found = result_keys(arg)
            if found is None:
                return None
            keys |= found
        return frozenset(keys)
    if origin is typing.Annotated:
        return result_keys(typing.get_args(annotation)[0])
    if not isinstance(annotation, type):
        return None
    if typing.is_typeddict(annotation):
        return frozenset(annotation.__annotations__)
    if dataclasses.is_dataclass(annotation):
        return frozenset(f.name for f in dataclasses.fields(annotation))
    if issubclass(annotation, BaseModel):
        if annotation.model_config.get("extra") == "allow":
            return None
        return frozenset(info.alias or name for name, info in annotation.model_fields.items())
    return None


def _resolved_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """Type hints with string annotations resolved (``from __future__ import annotations``)."""
    try:
        return typing.get_type_hints(func)
    except Exception:  # an unresolvable hint: fall back to the raw annotation
        return {}


def collect_secret_values(value: Any) -> Iterable[str]:
    """Yield the plain values of every ``SecretStr`` inside validated arguments."""
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from collect_secret_values(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from collect_secret_values(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from collect_secret_values(item)


def parse_uses(reference: str) -> tuple[str, str, str]:
    """Split ``MODULE/NAME@TAG``; a malformed reference is a clear error."""
    match = USES_PATTERN.match(reference.strip())
    if not match:
        raise CallResolutionError(
            f"uses '{reference}': expected the form MODULE/NAME@TAG, e.g. tasks/http-request@requests"
        )
    return match["module"], match["name"], match["tag"]


def unresolved_call_error(
    module: str, name: str, tag: str, available: list[CallFunction], packages: Iterable[str]
) -> CallResolutionError:
    """Why ``MODULE/NAME@TAG`` found nothing: an unknown module names the modules that exist
    (and where the module was looked for); both list the references that exist."""
    reference = f"{module}/{name}@{tag}"
    references = sorted(call.reference for call in available)
    modules = sorted({call.module for call in available})
    if module not in modules:
        looked = ", ".join(f"{package}.{module}" for package in packages) or "no registry package"
        reason = (
            f"uses '{reference}': no module '{module}' (looked for {looked}, then in plugins); "
            f"modules that exist: {', '.join(modules) or '(none)'}"
        )
    else:
        reason = f"uses '{reference}': no call function '{name}' with tag '{tag}' in module '{module}'"
    return CallResolutionError(reason, references)


class CallRegistry:
    """Call functions found in named modules, scanned lazily once and cached.

    ``CallRegistry.from_modules({"tasks": "my_pkg.tasks"})`` is all a plugin needs; the
    ``resolve``/``list`` methods answer the ``resolve_call``/``list_calls`` hooks.
    """

    def __init__(self, modules: dict[str, list[str]], provider: str = "") -> None:
        self._modules = modules
        self._provider = provider
        self._scanned: dict[str, dict[tuple[str, str], CallFunction]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_modules(cls, modules: dict[str, str], provider: str = "") -> CallRegistry:
        return cls({name: [path] for name, path in modules.items()}, provider=provider)

    @classmethod
    def from_packages(cls, packages: Iterable[str]) -> CallRegistry:
        """A registry whose module ``m`` is ``<package>.m`` for each registry package."""
        return _PackageCallRegistry(list(packages))

    def _module_paths(self, module: str) -> list[str]:
        return self._modules.get(module, [])

    def _scan(self, module: str) -> dict[tuple[str, str], CallFunction]:
        cached = self._scanned.get(module)
        if cached is not None:
            return cached
        with self._lock:
            if module in self._scanned:
                return self._scanned[module]
            found: dict[tuple[str, str], CallFunction] = {}
            for path in self._module_paths(module):
                imported = _import_optional(path)
                if imported is None:
                    continue
                for func in _tagged_functions(imported):
                    mark: TagMark = getattr(func, TAG_ATTRIBUTE)
                    name = mark.name or func.__name__.replace("_", "-")
                    key = (name, mark.tag)
                    if key in found:
                        raise CallResolutionError(
                            f"registry module '{path}': '{name}@{mark.tag}' is defined twice"
                        )
                    found[key] = CallFunction(
                        module=module,
                        name=name,
                        tag=mark.tag,
                        func=func,
                        provider=self._provider or path,
                    )
            self._scanned[module] = found
            return found

    def resolve(self, module: str, name: str, tag: str) -> CallFunction | None:
        return self._scan(module).get((name, tag))

    def module_names(self) -> list[str]:
        return sorted(self._modules)

    def list(self) -> list[CallFunction]:
        functions: list[CallFunction] = []
        for module in self.module_names():
            functions.extend(self._scan(module).values())
        return functions


class _PackageCallRegistry(CallRegistry):
    """Modules are looked up under each registry package, as ``uses:`` names them.

    A package the user named (``required``) that cannot be imported is an error saying which
    package and from where, rather than a "no call function" further down.
    """

    def __init__(self, packages: list[str], required: bool = False) -> None:
        super().__init__({}, provider="")
        self.packages = packages
        self.required = required
        self._checked = False

    def _module_paths(self, module: str) -> list[str]:
        if self.required and not self._checked:
            for package in self.packages:
                if _import_optional(package) is None:
                    raise CallResolutionError(
                        f"registry package '{package}' (RUNWRIGHT_REGISTRY) could not be imported: "
                        f"there is no '{package}' in the current directory ({os.getcwd()}) nor on the "
                        "Python path; check the name, run from the folder that holds it, or install it"
                    )
            self._checked = True
        return [f"{package}.{module}" for package in self.packages]

    def module_names(self) -> list[str]:
        names: set[str] = set()
        for package in self.packages:
            imported = _import_optional(package)
            if imported is not None and hasattr(imported, "__path__"):
                names.update(info.name for info in pkgutil.iter_modules(imported.__path__))
        return sorted(names)

    def filters(self) -> dict[str, Callable[..., Any]]:
        """Every ``@custom_filter`` in the registry packages' modules."""
        found: dict[str, Callable[..., Any]] = {}
        for package in self.packages:
            for module in _walk_package(package):
                for value in vars(module).values():
                    name = getattr(value, FILTER_ATTRIBUTE, None)
                    if isinstance(name, str) and callable(value):
                        found[name] = value
        return found


def _import_optional(path: str) -> ModuleType | None:
    """Import ``path``; a module that does not exist is None, a broken one is an error."""
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as exc:
        if exc.name and (path == exc.name or path.startswith(exc.name + ".")):
            return None
        raise CallResolutionError(f"registry module '{path}' failed to import: {exc}") from exc


def _walk_package(package: str) -> list[ModuleType]:
    root = _import_optional(package)
    if root is None:
        return []
    modules = [root]
    if hasattr(root, "__path__"):
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            imported = _import_optional(info.name)
            if imported is not None:
                modules.append(imported)
    return modules


def _tagged_functions(module: ModuleType) -> list[Callable[..., Any]]:
    return [
        value
        for value in vars(module).values()
        if callable(value) and isinstance(getattr(value, TAG_ATTRIBUTE, None), TagMark)
    ]


class RegistryPackagesPlugin:
    """Built-in plugin: resolves ``uses:`` and filters from the ``RUNWRIGHT_REGISTRY`` packages."""

    def __init__(self, packages: Iterable[str], required: bool = False) -> None:
        # A registry package in the current directory is importable, as ``python -m`` makes it.
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.append(os.getcwd())
        self.registry = _PackageCallRegistry(list(packages), required=required)

    @hookimpl(tryfirst=True)
    def resolve_call(self, module: str, name: str, tag: str) -> CallFunction | None:
        """The user's own registry packages are asked before any plugin."""
        return self.registry.resolve(module, name, tag)

    @hookimpl
    def list_calls(self) -> list[CallFunction]:
        return self.registry.list()

    @hookimpl(trylast=True)
    def register_filters(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        """Registered last, so a user's ``@custom_filter`` wins over a plugin's of that name."""
        for name, func in self.registry.filters().items():
            register(name, func)
