"""A call's own limits, as Vapi ends a call on them: `maxDurationSeconds` from the socket's
connection, `silenceTimeoutSeconds` of no uplink audio (a blackholed socket, `ws-drop`,
is not silence: the call goes on until the fault is over or the socket is lost)."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from bridge.sim.calls import CallRecord


class Limited(Protocol):
    ended: bool
    blackholed: bool
    last_uplink_mono: float | None  # the last uplink audio's arrival (time.monotonic)

    @property
    def rec(self) -> CallRecord: ...
    def end(self, reason: str, *, notify: bool = True) -> None: ...


async def enforce_limits(s: Limited) -> None:
    """Ends the call once one of its limits is reached, looking every 50 ms."""
    opts, rec = s.rec.options, s.rec
    assert rec.connected_mono is not None
    while not s.ended:
        await asyncio.sleep(0.05)
        now = time.monotonic()
        if now - rec.connected_mono >= opts.max_duration:
            s.end("exceeded-max-duration")
        elif not s.blackholed and \
                now - (s.last_uplink_mono or rec.connected_mono) >= opts.silence_timeout:
            s.end("silence-timed-out")
