"""Where runwright keeps what it writes: one state folder per conf folder.

The rule, in one place: ``RUNWRIGHT_HOME`` when it is set; otherwise ``.runwright`` beside the
conf path, in the folder that holds it (``--conf conf`` or ``RUNWRIGHT_CONF=conf`` ->
``./.runwright``; ``--conf /srv/flows/conf`` -> ``/srv/flows/.runwright``; a single file
``--conf jobs/etl.yml`` -> ``jobs/.runwright``). The folder depends on the conf path, never on the
current directory, so every command given the same conf path sees the same runs.

Inside it: ``logs/`` (run traces), ``audits/`` (the default ``file://`` audit store) and
``index/`` (the template index). ``RUNWRIGHT_LOG_PATH`` and ``RUNWRIGHT_AUDIT_URL`` still win.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

STATE_FOLDER_NAME = ".runwright"
DEFAULT_CONF_PATH = "conf"


def conf_path_or_default(conf_path: str | Path | None, env: Mapping[str, str] | None = None) -> Path:
    """The conf path given, else ``RUNWRIGHT_CONF``, else ``./conf``."""
    env = os.environ if env is None else env
    return Path(conf_path) if conf_path is not None else Path(env.get("RUNWRIGHT_CONF") or DEFAULT_CONF_PATH)


def state_dir(conf_path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """``RUNWRIGHT_HOME``, else ``.runwright`` in the folder holding the conf path (absolute)."""
    env = os.environ if env is None else env
    home = (env.get("RUNWRIGHT_HOME") or "").strip()
    if home:
        return Path(os.path.abspath(os.path.expanduser(home)))
    conf = os.path.abspath(conf_path_or_default(conf_path, env))
    return Path(os.path.dirname(conf)) / STATE_FOLDER_NAME


def log_dir(conf_path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Where run traces go: ``RUNWRIGHT_LOG_PATH``, else ``<state>/logs``."""
    env = os.environ if env is None else env
    explicit = env.get("RUNWRIGHT_LOG_PATH")
    return Path(explicit) if explicit else state_dir(conf_path, env) / "logs"


def index_file(conf_path: str | Path, env: Mapping[str, str] | None = None) -> Path:
    """The template index of one conf folder; named by its absolute path, since several conf
    folders may share one state folder (``RUNWRIGHT_HOME``, or ``conf`` and ``conf2`` side by side)."""
    import hashlib  # here: --help and commands without an index do not need it

    absolute = os.path.abspath(conf_path)
    digest = hashlib.sha256(absolute.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return state_dir(conf_path, env) / "index" / f"{Path(absolute).name or 'root'}-{digest}.json"
