"""What the HTTP server needs of the daemon (`bridge.service.daemon.Daemon`): the control
socket's `Host` (`bridge.control.commands`), and the last call's summary for the metrics."""

from __future__ import annotations

from typing import Any, Protocol

from bridge.call.lifecycle import Call
from bridge.call.summary import CallSummary
from bridge.events import EventBus


class WebHost(Protocol):
    @property
    def call(self) -> Call | None:
        """The call in progress, or the last one (None before the first)."""
        ...

    @property
    def events(self) -> EventBus:
        """The kiosk's events (`bridge.events`)."""
        ...

    @property
    def last_summary(self) -> CallSummary | None:
        """The last call's summary, set before its `ended` event is published."""
        ...

    def request_call(self, cause: str = "ctl") -> str | None:
        """Place a call now (standby mode): None when accepted, else why not (one line)."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The `ctl status` answer (`bridge.service.snapshot`)."""
        ...
