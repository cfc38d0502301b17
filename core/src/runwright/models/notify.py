"""``notify:``: who is told when a run ends (a webhook with a Slack-compatible body, or email).

Each entry names when (``failure``, the default; ``success``; ``always``) and where: ``webhook:``
(an http(s) URL) or ``email:`` (addresses, sent over SMTP to ``smtp:``, default
``RUNWRIGHT_SMTP`` else ``localhost:25``). Sending never delays or fails the run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from runwright.models.base import TemplateModel


class NotifyTarget(TemplateModel):
    """One place to tell about a run's end."""

    when: Literal["failure", "success", "always"] = Field(
        "failure", description="failure (FAILED, CANCEL, CRASHED), success, or always"
    )
    webhook: str | None = Field(
        None,
        # a ${VAR} is left as written only when a template is checked without its variables
        pattern=r"^(https?://\S+|\$\{[A-Za-z_][A-Za-z0-9_]*\})$",
        description="An http(s) URL; the body is JSON with Slack's 'text' (a secret URL: use ${VAR}).",
    )
    email: list[str] | None = Field(None, min_length=1, description="Addresses to send a mail to.")
    smtp: str | None = Field(
        None,
        pattern=r"^[^\s:]+(:\d+)?$",
        description="host[:port] of the SMTP server (default RUNWRIGHT_SMTP).",
    )
    sender: str = Field("runwright@localhost", alias="from", description="The mail's From address.")

    @model_validator(mode="after")
    def _one_place(self) -> NotifyTarget:
        if (self.webhook is None) == (self.email is None):
            raise ValueError("a notify entry needs exactly one of 'webhook' or 'email'")
        if self.smtp is not None and self.email is None:
            raise ValueError("'smtp' goes with 'email'")
        return self

    def wants(self, status: str) -> bool:
        """Whether a run that ended ``status`` is told to this target."""
        if self.when == "always":
            return True
        failed = status in ("FAILED", "CANCEL", "CRASHED")
        return failed if self.when == "failure" else status == "SUCCESS"
