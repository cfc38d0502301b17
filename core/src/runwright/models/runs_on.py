"""``runs-on:``: which executor runs a job (``local`` threads, a Dask cluster, a plugin's).

Forms: ``local``, ``dask``, ``{type: dask, address: tcp://host:8786, retries: 1}``; the peer's
``{type: local, with: {...}}`` is read as ``local``. The peer's other types (``self_hosted``,
``docker``, ``container``, ``aws_batch``...) are refused with a message naming runwright's way,
never ignored. Precedence: a job's ``runs-on``, the workflow's, the caller's, then
``RUNWRIGHT_EXECUTOR``, then ``local``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError, model_validator

from runwright.models.base import TemplateModel

PEER_ONLY_TYPES = frozenset(
    {
        "self_hosted",
        "self-hosted",
        "selfhosted",
        "docker",
        "container",
        "aws_batch",
        "gcp_batch",
        "azure_batch",
        "cloud_batch",
    }
)

RUNWRIGHT_WAY = (
    "runwright runs a job on 'local' (this process's threads, the default) or on a Dask cluster: "
    "runs-on: {type: dask, address: 'tcp://host:8786'} (no address: a temporary local cluster); "
    "run containers or batch jobs from a stage (bash: docker run ...) instead"
)


class RunsOn(TemplateModel):
    """Where a job runs: an executor name from the executor hook plus its options."""

    type: str = Field(description="an installed executor: 'local' (default), 'dask' or a plugin's")
    address: str | None = Field(
        None, description="the Dask scheduler, e.g. tcp://host:8786; none starts a temporary LocalCluster"
    )
    retries: int = Field(
        0, ge=0, le=10, description="times a job is resubmitted when its worker is lost (dask)"
    )

    @model_validator(mode="before")
    @classmethod
    def _forms(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = {"type": value}
        if not isinstance(value, Mapping):
            return value
        data = dict(value)
        kind = str(data.get("type", "")).strip()
        if kind.lower() in PEER_ONLY_TYPES:
            raise ValueError(f"runs-on type '{kind}' is not supported: {RUNWRIGHT_WAY}")
        extra = data.pop("with", None)  # the peer's spelling: options under 'with'
        if extra is not None:
            if not isinstance(extra, Mapping):
                raise ValueError("runs-on 'with' must be a mapping of options")
            if kind == "local" and extra:
                raise ValueError("runs-on type 'local' takes no options")
            for key, option in extra.items():
                data.setdefault(key, option)
        if kind == "local" and (data.get("address") or data.get("retries")):
            raise ValueError("runs-on type 'local' takes no address or retries; use {type: dask, ...}")
        return data

    def options(self) -> dict[str, Any]:
        """The options handed to the executor factory (only those set)."""
        return {k: v for k, v in {"address": self.address, "retries": self.retries}.items() if v}

    @property
    def key(self) -> tuple[str, str | None, int]:
        return (self.type, self.address, self.retries)


LOCAL = RunsOn(type="local")


def parse_executor_setting(text: str | None) -> RunsOn:
    """``RUNWRIGHT_EXECUTOR``: ``local``, ``dask``, ``dask:tcp://host:8786`` or a JSON mapping."""
    text = (text or "").strip()
    if not text:
        return LOCAL
    try:
        if text.startswith("{"):
            return RunsOn.model_validate(json.loads(text))
        kind, _, address = text.partition(":")
        return RunsOn.model_validate({"type": kind, "address": address or None})
    except (ValueError, ValidationError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        reason = reason.removeprefix("Value error, ")
        raise ValueError(
            f"RUNWRIGHT_EXECUTOR={text!r}: {reason} (expected 'local', 'dask', "
            '\'dask:tcp://host:8786\' or a JSON mapping such as {"type": "dask"})'
        ) from None


def check_installed(runs_on: RunsOn, executors: Mapping[str, Any], where: str) -> None:
    """A runs-on type must name an installed executor; say how to install dask."""
    if runs_on.type in executors:
        return
    known = ", ".join(sorted(executors))
    hint = " (install it: pip install 'runwright[dask]')" if runs_on.type == "dask" else ""
    raise ValueError(
        f"{where}runs-on type '{runs_on.type}' is not an installed executor{hint} (installed: {known})"
    )
