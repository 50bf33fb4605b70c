"""What the control socket needs of the process that serves it: `Host`.

The daemon (`bridge.service.daemon.Daemon`) implements it; the control layer knows
nothing else of the daemon, so it sits below the service layer with no import running
back up. Everything about the call itself is read from the `Call` (the call layer).
"""

from __future__ import annotations

from typing import Any, Protocol

from bridge.call.lifecycle import Call


class Host(Protocol):
    @property
    def call(self) -> Call | None:
        """The call in progress, or the last one (None before the first)."""
        ...

    def request_call(self) -> str | None:
        """Place a call now (standby mode): None when accepted, else why not (one line)."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The host's part of `ctl status` as JSON values: `profile`, `mode`, `state`,
        `wire`, `devices`, `playout`, `transcript` (the current call's last final lines),
        `lastCall` (the last summary line); `call` is the control layer's to fill in
        (`status.call_part`)."""
        ...
