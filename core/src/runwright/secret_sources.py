"""Where ``${NAME}`` values come from: the environment, ``.env`` files, a secrets folder, plugins.

Every source is a :class:`SecretSource` returned by the ``secret_sources`` hook (the built-in
ones below through the same hook). A :class:`SecretLookup` asks them in ascending ``order``;
the first that holds a name gives its value:

====  ===============================================  =====================================
order source                                           masked
====  ===============================================  =====================================
0     the process environment                          names that mark secrets (masking.py)
100   ``$RUNWRIGHT_SECRETS_DIR``: one file per secret   every value
200   ``.env`` in the working directory                names that mark secrets
300   ``.env`` in the conf folder                      names that mark secrets
400   plugins' sources (runwright-secrets-aws)          as the plugin says (AWS: every value)
====  ===============================================  =====================================

A value from any source is registered with the masker as an environment variable's would be,
and remembered by name (:func:`sourced_secrets`), so a param holding it is recorded as
``{"env": NAME}`` and read again, from the sources, on rerun. Values are never written to the
process environment: a script reads one through a stage's ``env:`` (``PW: ${DB_PASSWORD}``).
``runwright validate`` asks only :meth:`SecretSource.names` (no value is read).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from runwright.config import secrets_dir
from runwright.hookspecs import hookimpl
from runwright.masking import MASKER, is_secret_name, listed_secret_names

DOTENV_FILE = ".env"


class SecretSource(Protocol):
    """One place ``${NAME}`` values can come from."""

    order: int
    """Sources are asked in ascending order; the first holding a name wins."""
    label: str
    """Where it looks, for messages: ``.env file /srv/etl/conf/.env``."""
    always_secret: bool
    """Every value is a secret (masked whatever its name), else the name decides."""

    def names(self) -> Iterable[str]:
        """The names it can give, without reading their values (``runwright validate``)."""
        ...

    def get(self, name: str) -> str | None:
        """The value of ``name``, or None when this source does not hold it."""
        ...


class EnvironmentSource:
    """The process environment: what ``${NAME}`` always read."""

    order = 0
    label = "the environment"
    always_secret = False

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def names(self) -> Iterable[str]:
        return list(self._environ)

    def get(self, name: str) -> str | None:
        return self._environ.get(name)


class SecretsFolderSource:
    """A folder with one file per secret (``/run/secrets/DB_PASSWORD``), as Docker and
    Kubernetes mount them: the name is the file's, the value its text without the one line end
    at its end. Hidden entries (Kubernetes' ``..data``) are not secrets."""

    order = 100
    always_secret = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.label = f"secrets folder {folder} (RUNWRIGHT_SECRETS_DIR)"

    def names(self) -> Iterable[str]:
        try:
            return sorted(
                entry.name
                for entry in self.folder.iterdir()
                if not entry.name.startswith(".") and entry.is_file()
            )
        except OSError:
            return []

    def get(self, name: str) -> str | None:
        if not name or name.startswith(".") or "/" in name or "\0" in name:
            return None
        path = self.folder / name
        try:
            if not path.is_file():
                return None
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        return text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")


class DotEnvSource:
    """A ``.env`` file (python-dotenv's syntax), read again when it changes; python-dotenv is
    imported only when such a file exists."""

    always_secret = False

    def __init__(self, path: Path, order: int, where: str) -> None:
        self.path = path
        self.order = order
        self.label = f".env file {path} ({where})"
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._values: dict[str, str] = {}

    def _read(self) -> dict[str, str]:
        try:
            stat = self.path.stat()
        except OSError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                from dotenv import dotenv_values

                values = dotenv_values(self.path, interpolate=False)
                self._values = {key: value for key, value in values.items() if value is not None}
                self._stamp = stamp
            return self._values

    def names(self) -> Iterable[str]:
        return list(self._read())

    def get(self, name: str) -> str | None:
        return self._read().get(name)


def conf_folder(conf_path: Path | None) -> Path | None:
    """The folder of a conf path (itself, or the folder of a single conf file)."""
    if conf_path is None:
        return None
    return conf_path if conf_path.is_dir() or not conf_path.suffix else conf_path.parent


@hookimpl
def secret_sources(conf_path: Path | None) -> list[Any]:
    """The built-in sources: environment, secrets folder, working directory and conf ``.env``."""
    sources: list[Any] = [EnvironmentSource()]
    folder = secrets_dir()
    if folder is not None:
        sources.append(SecretsFolderSource(folder))
    here = Path.cwd() / DOTENV_FILE
    sources.append(DotEnvSource(here, 200, "working directory"))
    conf = conf_folder(conf_path)
    if conf is not None and (conf / DOTENV_FILE).absolute() != here.absolute():
        sources.append(DotEnvSource(conf / DOTENV_FILE, 300, "conf folder"))
    return sources


_SOURCED: dict[str, str] = {}
_SOURCED_LOCK = threading.Lock()


def sourced_secrets() -> dict[str, str]:
    """Secret value -> the name a source (other than the environment) gave it under, in this
    process: how a param holding it is recorded for a rerun (``{"env": NAME}``)."""
    with _SOURCED_LOCK:
        return dict(_SOURCED)


class SecretLookup:
    """The sources of one conf path, asked in order; what ``${NAME}`` substitution reads.

    Only ``in``, ``[]`` and ``get`` are offered: the sources are asked one name at a time (a
    remote store is never listed to substitute a template).
    """

    def __init__(self, sources: Iterable[Any]) -> None:
        self.sources: list[Any] = sorted(sources, key=lambda source: getattr(source, "order", 400))

    def find(self, name: str) -> tuple[str, Any] | None:
        """``(value, source)`` of the first source holding ``name``; the value is registered
        with the masker when it is a secret."""
        for source in self.sources:
            value = source.get(name)
            if value is None:
                continue
            if source.always_secret or is_secret_name(name) or name in listed_secret_names(os.environ):
                environment = isinstance(source, EnvironmentSource)
                label = f"environment variable {name}" if environment else f"{name} from {source.label}"
                # the environment's secrets stay (bounded by it); a source's value is the
                # current run's while one is active (a store may rotate it), else the process's
                register = MASKER.keep if environment else MASKER.add
                if register(value, name=label) and not environment:
                    with _SOURCED_LOCK:
                        _SOURCED.setdefault(value, name)
            return value, source
        return None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def __getitem__(self, name: str) -> str:
        found = self.find(name)
        if found is None:
            raise KeyError(name)
        return found[0]

    def get(self, name: str, default: str | None = None) -> str | None:
        found = self.find(name)
        return default if found is None else found[0]

    def provider(self, name: str) -> Any:
        """The first source that can give ``name``, asked by name only (no value is read)."""
        for source in self.sources:
            try:
                if name in source.names():
                    return source
            except Exception:  # a store that cannot be listed now: not a provider for validate
                continue
        return None

    def looked_in(self) -> str:
        """The sources, in order, for a message about a name none of them holds."""
        return ", ".join(source.label for source in self.sources)


def environment_lookup() -> SecretLookup:
    """The environment alone: where a record written without a conf path reads secrets."""
    return SecretLookup([EnvironmentSource()])
