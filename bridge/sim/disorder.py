"""Interruption messaging out of order, as Vapi's schema allows it (faults; see
`bridge.sim.interrupts`). Nothing in the protocol orders `user-interrupted`, the cut line's
`speech-update`s and the next line against each other, and `turnId` is optional
(`ServerMessageUserInterrupted`: only `type` is required).

- ``interrupt-no-turnid``: `user-interrupted` carries no `turnId`.
- ``interrupt-twice[=MS]``: a second `user-interrupted`, without a `turnId`, MS ms
  (default 300) after the first: two interruptions close together.
- ``interrupt-again[=MS]``: `user-interrupted`, without a `turnId`, said again MS ms
  (default 500) after the next line's `speech-update started`: a late duplicate.
- ``interrupt-unsaid``: the line is cut, and no `user-interrupted` is sent at all.
- ``stale-started[=MS]``: the cut line's `speech-update started` (its own `turn`) comes
  again MS ms (default 50) after `user-interrupted`, as a message reordered behind it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from bridge.sim import events as ev

if TYPE_CHECKING:
    from bridge.sim.mouth import Utterance
    from bridge.sim.port import CallPort

POLL_S = 0.005  # how often the next line's start is looked for (interrupt-again)
WAIT_S = 30.0  # and for how long


def interrupted(s: CallPort, line: Utterance) -> dict[str, Any] | None:
    """The `user-interrupted` for `line` (None: unsaid); schedules what the faults send
    after it."""
    faults, loop = s.rec.faults, asyncio.get_running_loop()
    if (twice := faults.get("interrupt-twice")) is not None:
        loop.call_later(twice.number(300.0) / 1000, s.emit, ev.user_interrupted(None))
    if (stale := faults.get("stale-started")) is not None:
        loop.call_later(stale.number(50.0) / 1000, s.emit,
                        ev.speech_update("started", "assistant", line.turn))
    if (again := faults.get("interrupt-again")) is not None:
        s.spawn(_again_in_next_line(s, line, again.number(500.0) / 1000))
    if "interrupt-unsaid" in faults:
        return None
    return ev.user_interrupted(None if "interrupt-no-turnid" in faults else line.turn_id)


async def _again_in_next_line(s: CallPort, line: Utterance, after: float) -> None:
    mouth = s.mouth
    for _ in range(int(WAIT_S / POLL_S)):
        await asyncio.sleep(POLL_S)
        if mouth.current is not None and mouth.current is not line:
            await asyncio.sleep(after)
            s.emit(ev.user_interrupted(None))
            return
