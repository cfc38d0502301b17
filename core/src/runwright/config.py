"""Every ``RUNWRIGHT_*`` setting, read from the environment in one typed place.

Settings are read when asked for (``Settings.from_env()``), never cached at import, so a test or
a long-running scheduler sees the environment it runs in.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_REGISTRY = "runwright_contrib"

#: Every ``RUNWRIGHT_*`` variable runwright reads or sets. A test keeps this list in step with the
#: source, so a variable added anywhere must be added here (and documented in ``Settings``).
KNOWN_VARIABLES = frozenset(
    {
        "RUNWRIGHT_CONF",
        "RUNWRIGHT_REGISTRY",
        "RUNWRIGHT_LOG_PATH",
        "RUNWRIGHT_MAX_JOB_PARALLEL",
        "RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD",
        "RUNWRIGHT_DISABLE_PLUGINS",
        "RUNWRIGHT_TRACE_PLUGINS",
        "RUNWRIGHT_TRACE",
        "RUNWRIGHT_AUDIT_URL",
        "RUNWRIGHT_STOP_BOUNDARY_DELTA",
        # set by runwright for the processes it starts
        "RUNWRIGHT_OUTPUT",
        "RUNWRIGHT_RUN_ID",
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
        close = difflib.get_close_matches(name, KNOWN_VARIABLES, n=1, cutoff=0.6)
        if not close:  # a real name with words added around it (an ``APP_`` infix)
            close = [known for known in sorted(KNOWN_VARIABLES) if known[len("RUNWRIGHT_"):] in name]
            close = close[-1:] if close else []
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"warning: environment variable {name} is not a runwright setting{hint}")
    return warnings


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """The process configuration.

    - ``RUNWRIGHT_CONF``: where templates live (default ``./conf``).
    - ``RUNWRIGHT_REGISTRY``: comma list of registry packages searched by ``uses:``
      (default ``runwright_contrib``, the example package under ``contrib/``).
    - ``RUNWRIGHT_LOG_PATH``: where per-run trace files go (default ``./logs``).
    - ``RUNWRIGHT_MAX_JOB_PARALLEL``: job threads per run (default 4).
    - ``RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD``: ``1`` skips entry-point plugins.
    - ``RUNWRIGHT_DISABLE_PLUGINS``: comma list of entry-point plugins (entry-point or
      distribution names) to skip.
    - ``RUNWRIGHT_TRACE_PLUGINS``: ``1`` prints every hook call to stderr.
    - ``RUNWRIGHT_TRACE``: ``0`` turns per-run trace files off (default on).
    - ``RUNWRIGHT_AUDIT_URL``: the audit store (default ``file://./audits``; ``sqlite:///x.db``).
    - ``RUNWRIGHT_STOP_BOUNDARY_DELTA``: how long ``Schedule.pending()`` runs when given no
      stop: ISO 8601 (``PT5M``), JSON (``{"minutes": 5}``) or seconds (default 5 minutes).
    """

    conf_path: Path
    registry_packages: tuple[str, ...]
    registry_is_explicit: bool
    log_path: Path
    max_job_parallel: int
    disable_plugin_autoload: bool
    disabled_plugins: tuple[str, ...]
    trace_plugins: bool
    trace_enabled: bool
    audit_url: str | None
    stop_boundary_delta: str | None

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        registry = env.get("RUNWRIGHT_REGISTRY", DEFAULT_REGISTRY)
        return cls(
            conf_path=Path(env.get("RUNWRIGHT_CONF", "conf")),
            registry_packages=tuple(p.strip() for p in registry.split(",") if p.strip()),
            registry_is_explicit="RUNWRIGHT_REGISTRY" in env,
            log_path=Path(env.get("RUNWRIGHT_LOG_PATH", "logs")),
            max_job_parallel=max(1, int(env.get("RUNWRIGHT_MAX_JOB_PARALLEL", "4"))),
            disable_plugin_autoload=_flag(env.get("RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD")),
            disabled_plugins=tuple(
                p.strip() for p in env.get("RUNWRIGHT_DISABLE_PLUGINS", "").split(",") if p.strip()
            ),
            trace_plugins=_flag(env.get("RUNWRIGHT_TRACE_PLUGINS")),
            trace_enabled=env.get("RUNWRIGHT_TRACE", "1").strip().lower() not in {"0", "false", "no", "off"},
            audit_url=env.get("RUNWRIGHT_AUDIT_URL") or None,
            stop_boundary_delta=env.get("RUNWRIGHT_STOP_BOUNDARY_DELTA") or None,
        )
