"""Hanging up as the visitor or operator asks it (`ctl end`, the screen's End button):
a call that is up ends cleanly (`Call.end`); one still being set up (created, or its
socket connecting) is stopped as a stop signal stops it (`place_call` waits on
`Call.stop_setup` beside the daemon's stop). Refused before the first call and after the
call ended. Before, an End pressed while the call was being placed was refused ("try again
in a moment") and the assistant then started talking."""

from __future__ import annotations

import asyncio
import contextlib

from bridge.call.lifecycle import Call, ensure_live
from bridge.call.state import CallState
from bridge.errors import Refused

POLL_S = 0.05  # how often the setup's end is looked for
SETTLE_S = 15.0  # bound, beyond call.end_timeout_seconds: a stop or an end takes no longer


async def hang_up(call: Call | None) -> str:
    """End `call` or stop its setup; the answer's one line (`Refused` when there is no
    call to end). An End while an earlier one is under way (the call ending, or its setup
    being stopped) waits for it and answers the same."""
    if call is not None and (call.state.setting_up or call.state is CallState.ENDING):
        if call.state.setting_up:
            call.stop_setup.set()
        bound = SETTLE_S + call.profile.call.end_timeout_seconds
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(bound):
                while call.state not in (CallState.IN_CALL, CallState.ENDED):
                    await asyncio.sleep(POLL_S)  # until it is over, or came up first
        if call.state is CallState.ENDED:
            return _ended(call)
        if call.state is not CallState.IN_CALL:
            doing = "ending" if call.state is CallState.ENDING else "being set up"
            raise Refused(f"the call is still {doing} {bound:g} s after it was asked to "
                          f"stop; see the daemon's log")
    call = ensure_live(call)
    await call.end()
    await asyncio.sleep(0)  # let the call's own tasks see the close
    return f"call {call.short_id} ended ({reason_of(call)})"


def reason_of(call: Call) -> str:
    """Why the call ended, as `end` answers it: Vapi's reason or ours; else "ended" for a
    call that was up, "not placed" for one stopped before it was."""
    return call.ended_reason or ("ended" if call.clock.started else "not placed")


def _ended(call: Call) -> str:
    if call.info is None:
        return "the call was stopped while it was being created (not placed)"
    reason = reason_of(call)
    return (f"call {call.short_id} ended ({reason})" if call.clock.started else
            f"call {call.short_id} stopped while it was being set up ({reason})")
