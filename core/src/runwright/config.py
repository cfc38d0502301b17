"""Every ``RUNWRIGHT_*`` setting, read from the environment in one typed place.

Settings are read when asked for (``Settings.from_env()``), never cached at import, so a test or
a long-running scheduler sees the environment it runs in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_REGISTRY = "runwright_contrib"


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
    - ``RUNWRIGHT_TRACE_PLUGINS``: ``1`` prints every hook call to stderr.
    - ``RUNWRIGHT_TRACE``: ``0`` turns per-run trace files off (default on).
    - ``RUNWRIGHT_AUDIT_URL``: the audit store (default ``file://./audits``; ``sqlite:///x.db``).
    - ``RUNWRIGHT_STOP_BOUNDARY_DELTA``: how long ``Schedule.pending()`` runs when given no
      stop: ISO 8601 (``PT5M``), JSON (``{"minutes": 5}``) or seconds (default 5 minutes).
    - ``RUNWRIGHT_EXECUTOR``: where jobs without ``runs-on:`` run, for a whole deployment:
      ``local`` (default), ``dask`` (a temporary local cluster per run), ``dask:tcp://host:8786``
      or a JSON ``runs-on`` mapping.
    """

    conf_path: Path
    registry_packages: tuple[str, ...]
    log_path: Path
    max_job_parallel: int
    disable_plugin_autoload: bool
    trace_plugins: bool
    trace_enabled: bool
    audit_url: str | None
    stop_boundary_delta: str | None
    executor: str = "local"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        registry = env.get("RUNWRIGHT_REGISTRY", DEFAULT_REGISTRY)
        return cls(
            conf_path=Path(env.get("RUNWRIGHT_CONF", "conf")),
            registry_packages=tuple(p.strip() for p in registry.split(",") if p.strip()),
            log_path=Path(env.get("RUNWRIGHT_LOG_PATH", "logs")),
            max_job_parallel=max(1, int(env.get("RUNWRIGHT_MAX_JOB_PARALLEL", "4"))),
            disable_plugin_autoload=_flag(env.get("RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD")),
            trace_plugins=_flag(env.get("RUNWRIGHT_TRACE_PLUGINS")),
            trace_enabled=env.get("RUNWRIGHT_TRACE", "1").strip().lower() not in {"0", "false", "no", "off"},
            audit_url=env.get("RUNWRIGHT_AUDIT_URL") or None,
            stop_boundary_delta=env.get("RUNWRIGHT_STOP_BOUNDARY_DELTA") or None,
            executor=env.get("RUNWRIGHT_EXECUTOR", "").strip() or "local",
        )
