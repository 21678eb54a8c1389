# SPDX-License-Identifier: Apache-2.0
"""The doctor's vocabulary: what it is given (:class:`DoctorInputs`), what each check finds (:class:`Check`) and
the whole :class:`Report`. A check is a function ``DoctorInputs -> list[Check]``; a check whose inputs are not given
returns a ``skip`` line, never a failure::

    def check_something(inputs: DoctorInputs) -> list[Check]:
        if not inputs.collector_metrics:
            return [Check("something", SKIP, "no metrics URL")]
        return [Check("OTEL_SOMETHING", WARN, "it is off", fix="set it to 1", until="nothing is counted")]

Imported by every ``owui_otel._doctor_*`` module (and re-exported by :mod:`owui_otel._doctor`), so it imports none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from owui_otel._supervisor import SupervisorStatus

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
SYNTHETIC_TURN = "synthetic turn"
"""The link of the check that sends the synthetic turn; its ``data`` says where it went and where it was found."""


@dataclass(frozen=True)
class DoctorInputs:
    """Everything the checks look at. Empty means "not given" (that check is skipped).

    ``collector_env`` / ``bridge_env``: the running processes' own environments (``None``: not known, e.g. not an
    ``owui-otel up`` stack); ``filter_environ`` / ``filter_valves``: what the filter resolves its settings from when
    no bridge is configured (the shell the doctor runs in)."""

    collector_health: str = ""
    collector_metrics: str = ""
    otlp_endpoint: str = ""
    otlp_headers: tuple[tuple[str, str], ...] = ()
    bridge_url: str = ""
    bridge_api_key: str = ""
    langfuse_host: str = ""
    langfuse_public_key: str = ""
    langfuse_secret_key: str = ""
    langfuse_source: str = ""
    """Where the Langfuse settings came from, for messages: "" (this shell or the flags) or "the running collector"."""
    jaeger_url: str = ""
    prometheus_url: str = ""
    phoenix_url: str = ""
    service_name: str = "open-webui"
    openwebui_url: str = ""
    openwebui_token: str = ""
    supervisor: SupervisorStatus | None = None
    supervisor_alive: bool = False
    collector_env: dict[str, str] | None = None
    bridge_env: dict[str, str] | None = None
    collector_log: str = ""
    logs: str = ""
    filter_environ: dict[str, str] = field(default_factory=dict)
    filter_valves: dict[str, Any] = field(default_factory=dict)
    synthetic_turn: bool = False
    """Send the synthetic turn (the command line does, unless --no-synthetic-turn)."""
    wait_s: float = 20.0


@dataclass
class Check:
    """One finding. ``link`` is the setting at fault (env var or ``valve <name>``) or the link checked; ``fix`` and
    ``until`` (the fallback meanwhile) complete a problem line; ``data`` holds machine-readable details."""

    link: str
    status: str
    says: str
    fix: str = ""
    until: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def is_problem(self) -> bool:
        return self.status in (FAIL, WARN)


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    logs: str = ""

    @property
    def failed(self) -> int:
        return sum(check.status == FAIL for check in self.checks)

    @property
    def warned(self) -> int:
        return sum(check.status == WARN for check in self.checks)

    @property
    def problems(self) -> int:
        return self.failed + self.warned

    @property
    def synthetic(self) -> dict[str, Any] | None:
        """The synthetic turn's ``{"chat_id", "trace_id", "path", "found_in", "missing_in"}``, if one was sent."""
        return next((check.data for check in self.checks if "trace_id" in check.data), None)


OWUI_OTEL = ".venv/bin/owui-otel"
"""The command as pasted from a checkout (README's setup installs it there)."""
RESTART = f"`{OWUI_OTEL} down && {OWUI_OTEL} up`"
