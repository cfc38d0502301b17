"""Every ``RUNWRIGHT_*`` setting, read from the environment in one typed place.

Settings are read when asked for (``Settings.from_env()``), never cached at import, so a test or
a long-running scheduler sees the environment it runs in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_REGISTRY = "runwright_contrib"

#: Every ``RUNWRIGHT_*`` variable runwright reads or sets. A test keeps this list in step with the
#: source, so a variable added anywhere must be added here (and documented in ``Settings``).
KNOWN_VARIABLES = frozenset(
    {
        "RUNWRIGHT_CONF",
        "RUNWRIGHT_REGISTRY",
        "RUNWRIGHT_LOG_PATH",
        "RUNWRIGHT_HOME",
        "RUNWRIGHT_MAX_JOB_PARALLEL",
        "RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD",
        "RUNWRIGHT_DISABLE_PLUGINS",
        "RUNWRIGHT_TRACE_PLUGINS",
        "RUNWRIGHT_TRACE",
        "RUNWRIGHT_AUDIT_URL",
        "RUNWRIGHT_STOP_BOUNDARY_DELTA",
        "RUNWRIGHT_SECRETS",
        "RUNWRIGHT_EXECUTOR",
        "RUNWRIGHT_VENV_DIR",
        "RUNWRIGHT_DEPS_UNRESTRICTED",
        "RUNWRIGHT_API_TOKEN",
        "RUNWRIGHT_MAX_TEMPLATE_BYTES",
        "RUNWRIGHT_MAX_YAML_DEPTH",
        "RUNWRIGHT_MAX_YAML_NODES",
        "RUNWRIGHT_MAX_STRATEGIES",
        "RUNWRIGHT_MAX_EXPRESSION_LENGTH",
        "RUNWRIGHT_MAX_EXPRESSION_DEPTH",
        "RUNWRIGHT_MAX_INTEGER_DIGITS",
        "RUNWRIGHT_PARAMS_DEADLINE_SECONDS",
        "RUNWRIGHT_SMTP",
        "RUNWRIGHT_NOTIFY_WAIT",
        "RUNWRIGHT_LEASE_SECONDS",
        "RUNWRIGHT_SECRETS_DIR",
        "RUNWRIGHT_METRICS_MAX_WORKFLOWS",
        "RUNWRIGHT_AWS_SECRETS_PREFIX",
        "RUNWRIGHT_AWS_SECRETS_CACHE_SECONDS",
        "RUNWRIGHT_MALLOC_ARENAS",
        "RUNWRIGHT_MALLOC_TRIM_SECONDS",
        "RUNWRIGHT_MALLOC_THREAD_CACHE",
        # set by runwright for the processes it starts
        "RUNWRIGHT_OUTPUT",
        "RUNWRIGHT_RUN_ID",
        "RUNWRIGHT_STAGE_MARK",
        "RUNWRIGHT_SAVED_GLIBC_TUNABLES",
    }
)


def unknown_variable_warnings(env: Mapping[str, str] | None = None) -> list[str]:
    """One warning per ``RUNWRIGHT_*`` variable runwright does not read, with a did-you-mean.

    A setting ported from the peer with its ``APP_`` infix, or misspelt, would otherwise be
    ignored without a word.
    """
    env = os.environ if env is None else env
    warnings = []
    for name in sorted(env):
        if not name.startswith("RUNWRIGHT_") or name in KNOWN_VARIABLES:
            continue
        from runwright.spelling import closest  # only when something is misspelt

        meant = closest(name, KNOWN_VARIABLES)
        close = [meant] if meant else []
        if not close:  # a real name with words added around it (an ``APP_`` infix)
            close = [known for known in sorted(KNOWN_VARIABLES) if known[len("RUNWRIGHT_") :] in name]
            close = close[-1:] if close else []
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"warning: environment variable {name} is not a runwright setting{hint}")
    return warnings


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class PluginSwitches(NamedTuple):
    """The settings that decide which plugins load (``Settings.plugins``): all the command
    line's help needs, which reads them alone (the other settings' paths import :mod:`pathlib`)."""

    disable_plugin_autoload: bool
    disabled_plugins: tuple[str, ...]
    trace_plugins: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PluginSwitches:
        env = os.environ if env is None else env
        return cls(
            disable_plugin_autoload=_flag(env.get("RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD")),
            disabled_plugins=tuple(
                p.strip() for p in env.get("RUNWRIGHT_DISABLE_PLUGINS", "").split(",") if p.strip()
            ),
            trace_plugins=_flag(env.get("RUNWRIGHT_TRACE_PLUGINS")),
        )


class Settings(NamedTuple):
    """The process configuration (immutable; a named tuple, not a frozen dataclass: every
    command imports this module, and a dataclass's generated methods cost ~1 ms each class).

    - ``RUNWRIGHT_CONF``: where templates live (default ``./conf``).
    - ``RUNWRIGHT_REGISTRY``: comma list of registry packages searched by ``uses:``
      (default ``runwright_contrib``, the example package under ``contrib/``).
    - ``RUNWRIGHT_HOME``: the state folder (run traces, the default audit store, the template
      index); default ``.runwright`` beside the conf path (:mod:`runwright.state`).
    - ``RUNWRIGHT_LOG_PATH``: where per-run trace files go (default ``<state folder>/logs``).
    - ``RUNWRIGHT_MAX_JOB_PARALLEL``: job threads per run (default 4).
    - ``RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD``: ``1`` skips entry-point plugins.
    - ``RUNWRIGHT_DISABLE_PLUGINS``: comma list of entry-point plugins (entry-point or
      distribution names) to skip.
    - ``RUNWRIGHT_TRACE_PLUGINS``: ``1`` prints every hook call to stderr.
    - ``RUNWRIGHT_TRACE``: ``0`` turns per-run trace files off (default on).
    - ``RUNWRIGHT_AUDIT_URL``: the audit store (default ``<state folder>/audits``; ``sqlite:///x.db``).
    - ``RUNWRIGHT_STOP_BOUNDARY_DELTA``: how long ``Schedule.pending()`` runs when given no
      stop: ISO 8601 (``PT5M``), JSON (``{"minutes": 5}``) or seconds (default 5 minutes).
    - ``RUNWRIGHT_SECRETS``: comma list of environment variables whose values are masked, besides
      those whose names contain KEY, TOKEN, SECRET, PASSWORD, PASSWD, PASSPHRASE or CREDENTIAL.
    - ``RUNWRIGHT_EXECUTOR``: where jobs without ``runs-on:`` run, for a whole deployment:
      ``local`` (default), ``dask`` (a temporary local cluster per run), ``dask:tcp://host:8786``
      or a JSON ``runs-on`` mapping.
    """

    conf_path: Path
    registry_packages: tuple[str, ...]
    registry_is_explicit: bool
    log_path: Path
    max_job_parallel: int
    plugins: PluginSwitches
    trace_enabled: bool
    audit_url: str | None
    stop_boundary_delta: str | None
    executor: str = "local"
    log_path_is_explicit: bool = False

    def log_dir_for(self, conf_path: Path | None) -> Path:
        """Where the traces of runs of templates from ``conf_path`` go (its state folder's
        ``logs``), unless ``RUNWRIGHT_LOG_PATH`` names one folder for all."""
        from runwright import state

        if self.log_path_is_explicit or conf_path is None:
            return self.log_path
        return state.state_dir(conf_path) / "logs"

    @classmethod
    def from_env(cls) -> Settings:
        from pathlib import Path

        from runwright import state

        env = os.environ
        registry = env.get("RUNWRIGHT_REGISTRY", DEFAULT_REGISTRY)
        conf_path = Path(env.get("RUNWRIGHT_CONF", "conf"))
        return cls(
            conf_path=conf_path,
            registry_packages=tuple(p.strip() for p in registry.split(",") if p.strip()),
            registry_is_explicit="RUNWRIGHT_REGISTRY" in env,
            log_path=state.log_dir(conf_path, env),
            max_job_parallel=max(1, int(env.get("RUNWRIGHT_MAX_JOB_PARALLEL", "4"))),
            plugins=PluginSwitches.from_env(env),
            trace_enabled=env.get("RUNWRIGHT_TRACE", "1").strip().lower() not in {"0", "false", "no", "off"},
            audit_url=env.get("RUNWRIGHT_AUDIT_URL") or None,
            stop_boundary_delta=env.get("RUNWRIGHT_STOP_BOUNDARY_DELTA") or None,
            executor=env.get("RUNWRIGHT_EXECUTOR", "").strip() or "local",
            log_path_is_explicit=bool(env.get("RUNWRIGHT_LOG_PATH")),
        )


def deps_unrestricted() -> bool:
    """``RUNWRIGHT_DEPS_UNRESTRICTED=1``: the entries of a ``deps:`` stage reach uv as written
    (uv options such as ``--index-url`` or ``-r FILE``, local paths, ``file:`` URLs). Off by
    default: a template, or a param rendered into it, may name only requirement specifiers."""
    return _flag(os.environ.get("RUNWRIGHT_DEPS_UNRESTRICTED"))


def secrets_dir() -> Path | None:
    """``RUNWRIGHT_SECRETS_DIR``: a folder of one file per secret (the file's name is the
    variable's, its text the value), as Docker and Kubernetes mount secrets; unset: none."""
    from pathlib import Path

    text = os.environ.get("RUNWRIGHT_SECRETS_DIR", "").strip()
    return Path(text) if text else None


def _positive_float(name: str, default: float, zero_allowed: bool = False) -> float:
    text = os.environ.get(name, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        return default
    return value if (0 <= value if zero_allowed else 0 < value) and value < float("inf") else default


DEFAULT_LEASE_SECONDS = 30.0


def lease_seconds() -> float:
    """``RUNWRIGHT_LEASE_SECONDS``: how long a concurrency slot outlives its holder's last
    renewal (default 30, at least 2): a SIGKILLed holder's slot is free within this long."""
    return max(2.0, _positive_float("RUNWRIGHT_LEASE_SECONDS", DEFAULT_LEASE_SECONDS))


DEFAULT_MALLOC_TRIM_SECONDS = 10.0


def malloc_trim_seconds() -> float:
    """``RUNWRIGHT_MALLOC_TRIM_SECONDS``: the least time between two heap trims of a
    long-running process (default 10; 0: never trim)."""
    return _positive_float("RUNWRIGHT_MALLOC_TRIM_SECONDS", DEFAULT_MALLOC_TRIM_SECONDS, zero_allowed=True)


DEFAULT_MALLOC_ARENAS = 2


def malloc_arenas() -> int:
    """``RUNWRIGHT_MALLOC_ARENAS``: the most malloc arenas of a scheduler, a server and its
    workers (default 2; 0: glibc's default, eight per core)."""
    return _positive_int("RUNWRIGHT_MALLOC_ARENAS", DEFAULT_MALLOC_ARENAS, zero_allowed=True)


DEFAULT_MALLOC_THREAD_CACHE = 0


def malloc_thread_cache() -> int | None:
    """``RUNWRIGHT_MALLOC_THREAD_CACHE``: how many freed blocks of each size a thread of a
    scheduler, a server or a worker keeps for itself (glibc's tcache; default 0, glibc's own is
    7); ``default`` leaves glibc's setting and the process alone (None)."""
    if os.environ.get("RUNWRIGHT_MALLOC_THREAD_CACHE", "").strip().lower() == "default":
        return None
    return _positive_int("RUNWRIGHT_MALLOC_THREAD_CACHE", DEFAULT_MALLOC_THREAD_CACHE, zero_allowed=True)


def _positive_int(name: str, default: int, zero_allowed: bool = False) -> int:
    text = os.environ.get(name, "").strip()
    try:
        return max(0 if zero_allowed else 1, int(text)) if text else default
    except ValueError:
        return default


class Limits(NamedTuple):
    """How much work one template or one expression may ask for (hostile input stays cheap).

    - ``RUNWRIGHT_MAX_TEMPLATE_BYTES``: largest template file read (default 2,000,000).
    - ``RUNWRIGHT_MAX_YAML_DEPTH``: deepest nesting of mappings/sequences (default 64).
    - ``RUNWRIGHT_MAX_YAML_NODES``: most YAML nodes in one file, counting every alias as the
      whole subtree it stands for (default 100,000): refuses "billion laughs" alias bombs.
    - ``RUNWRIGHT_MAX_STRATEGIES``: most combinations one job's matrix, or items one ``foreach``,
      may produce (default 10,000).
    - ``RUNWRIGHT_MAX_EXPRESSION_LENGTH``: longest string or list an expression may build with an
      operator, a string method or a filter (default 1,000,000 characters or items).
    - ``RUNWRIGHT_MAX_EXPRESSION_DEPTH``: deepest nesting of brackets (``(``, ``[``, ``{``) in
      one expression (default 32): jinja2 parses brackets by recursion, and about 65 levels
      exhaust Python's recursion limit.
    - ``RUNWRIGHT_MAX_INTEGER_DIGITS``: largest integer an expression may compute (default 4,300
      digits, Python's own limit for printing an integer).
    - ``RUNWRIGHT_PARAMS_DEADLINE_SECONDS``: how long the scheduler waits for one release's
      params to render before skipping that release (default 10).
    """

    max_template_bytes: int = 2_000_000
    max_yaml_depth: int = 64
    max_yaml_nodes: int = 100_000
    max_strategies: int = 10_000
    max_expression_length: int = 1_000_000
    max_expression_depth: int = 32
    max_integer_digits: int = 4_300
    params_deadline_seconds: float = 10.0

    @classmethod
    def from_env(cls) -> Limits:
        default = cls()
        return cls(
            max_template_bytes=_positive_int("RUNWRIGHT_MAX_TEMPLATE_BYTES", default.max_template_bytes),
            max_yaml_depth=_positive_int("RUNWRIGHT_MAX_YAML_DEPTH", default.max_yaml_depth),
            max_yaml_nodes=_positive_int("RUNWRIGHT_MAX_YAML_NODES", default.max_yaml_nodes),
            max_strategies=_positive_int("RUNWRIGHT_MAX_STRATEGIES", default.max_strategies),
            max_expression_length=_positive_int(
                "RUNWRIGHT_MAX_EXPRESSION_LENGTH", default.max_expression_length
            ),
            max_expression_depth=_positive_int(
                "RUNWRIGHT_MAX_EXPRESSION_DEPTH", default.max_expression_depth
            ),
            max_integer_digits=_positive_int("RUNWRIGHT_MAX_INTEGER_DIGITS", default.max_integer_digits),
            params_deadline_seconds=_positive_float(
                "RUNWRIGHT_PARAMS_DEADLINE_SECONDS", default.params_deadline_seconds
            ),
        )
