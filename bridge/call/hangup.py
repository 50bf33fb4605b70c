"""Hanging up as the visitor or operator asks it (`ctl end`, the screen's End button):
a call that is up ends cleanly (`Call.end`); one still being set up (created, or its
socket connecting) is stopped as a stop signal stops it (`place_call` waits on
`Call.stop_setup` beside the daemon's stop). Refused before the first call and after the
call ended. Before, an End pressed while the call was being placed was refused ("try again
in a moment") and the assistant then started talking."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bridge.call.abandon import LOOK_AGAIN_S
from bridge.call.lifecycle import Call, ensure_live
from bridge.call.state import ASKED_AGAIN, CallState
from bridge.call.summary import CONNECTION_LOST, OUTCOME_TIMEOUT_S
from bridge.call.watchdog import LOST_AFTER_S
from bridge.errors import NetworkError, Refused

POLL_S = 0.05  # how often the setup's end is looked for
SETTLE_S = 15.0  # bound, beyond call.end_timeout_seconds: a stop or an end takes no longer


async def hang_up(call: Call | None) -> str:
    """End `call` or stop its setup; the answer's one line (`Refused` when there is no
    call to end). An End while an earlier one is under way (the call ending, or its setup
    being stopped) waits for it and answers the same."""
    if call is not None and (call.state.setting_up or call.state is CallState.ENDING):
        if call.state.setting_up:
            call.stop_setup.set()
        bound = settle_wait(call.profile.call.end_timeout_seconds)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(bound):
                while call.state not in (CallState.IN_CALL, CallState.ENDED):
                    await asyncio.sleep(POLL_S)  # until it is over, or came up first
        if call.state is CallState.ENDED:  # the earlier end's answer, the same words
            return await _unconfirmed(call) if _unconfirmed_end(call) else _ended(call)
        if call.state is not CallState.IN_CALL:
            doing = "ending" if call.state is CallState.ENDING else "being set up"
            raise Refused(f"the call is still {doing} {bound:g} s after it was asked to "
                          f"stop; see the daemon's log")
    call = ensure_live(call)
    call.vapi.end_stalled = call.stalled_s
    await call.end()
    await asyncio.sleep(0)  # let the call's own tasks see the close
    if not call.vapi.ended.is_set():  # Vapi did not confirm it: its look says more
        return await _unconfirmed(call)
    return f"call {call.short_id} ended ({reason_of(call)})"


def settle_wait(end_timeout: float) -> float:
    """The longest an end waits for the call to be over here: an earlier end's or a
    setup's stop (this end's own, `Call.end`: a send, `end_timeout`, a close, is shorter)."""
    return SETTLE_S + end_timeout


def summary_wait(end_timeout: float) -> float:
    """The longest an end Vapi did not confirm waits, then, for the summary's word."""
    return OUTCOME_TIMEOUT_S + end_timeout + LOOK_AGAIN_S + 1.0


def longest_answer(end_timeout: float) -> float:
    """The longest `hang_up` takes to answer, with `call.end_timeout_seconds` at
    `end_timeout`; `ctl end` waits longer by default (`control.client.END_TIMEOUT_S`)."""
    return settle_wait(end_timeout) + summary_wait(end_timeout)


def _unconfirmed_end(call: Call) -> bool:
    """An end asked of a call that was up (end-call sent) met no `ended` from Vapi."""
    return bool(call.clock.started) and call.vapi.end_sent and not call.vapi.ended.is_set()


async def _unconfirmed(call: Call) -> str:
    """The answer to an end Vapi did not confirm (a dead link: the end-call went nowhere),
    once the summary has asked Vapi about the call and, if it goes on, ended it through
    its controlUrl; one Vapi could not be asked about or told to end goes to the daemon's
    spending settler (`end_if_lost`), and the operator is told. The summary's look takes
    `OUTCOME_TIMEOUT_S` at most, its end through the controlUrl `end_timeout_seconds`, and
    a look again after a refused end (Vapi may have ended the call, its look said late)
    `LOOK_AGAIN_S`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(summary_wait(call.profile.call.end_timeout_seconds)):
            while call.summary is None:
                await asyncio.sleep(POLL_S)
    if call.summary is not None and not call.vapi.left_open:
        return f"call {call.short_id} ended ({reason_of(call)})"
    stalled = call.vapi.end_stalled
    why = "Vapi did not confirm the end" if stalled is None else \
        f"the link to Vapi had carried nothing for {stalled:.0f} s"
    # (not "could not be asked or told": Vapi slow to say it ended was asked, said it went
    # on, and refused the end through the controlUrl as over)
    return (f"call {call.short_id} ended here, not yet at Vapi: {why}, and Vapi did not say "
            f"it ended when asked, nor take the end through its controlUrl — it may bill the "
            f"call until it does; it is asked about again {ASKED_AGAIN} (and before the next "
            f"call), and ended through its controlUrl if it goes on (see the daemon's log)")


def stall_note(call: Call, lead: str = "; but the link") -> str:
    """What an operator is told beside a command Vapi accepted while the call's link is
    stalled (by the controlUrl): Vapi has it, but nothing it says reaches the kiosk; `lead`
    joins it to what it follows."""
    stalled = call.stalled_s
    return "" if stalled is None else f"{lead} is stalled (nothing from Vapi for " \
        f"{stalled:.0f} s): the call is lost unless it carries again within " \
        f"{LOST_AFTER_S:.0f} s of the last"


async def send_noted(call: Call, command: dict[str, Any]) -> str:
    """`call.commands.send`: the path it took; a `NetworkError` (on a dead link) says too
    whether the call is kept, or was lost and what then happens to it (`down_note`)."""
    try:
        return await call.commands.send(command)
    except NetworkError as exc:
        raise exc.__class__(f"{exc}{down_note(call)}") from None


def down_note(call: Call) -> str:
    """What an operator is told beside a command that failed on a link carrying nothing
    (`CallCommands.post_control`'s bound): the call is kept if the link comes back in time,
    or it was lost meanwhile, and what then happens to it ("" for any other call)."""
    if call.stalled_s is not None:
        return stall_note(call, "; the link")
    if call.ended_reason != CONNECTION_LOST:
        return ""
    return ("; the call was lost meanwhile (connection-lost): Vapi is asked about it, and it "
            "is ended through its controlUrl once Vapi answers (see the daemon's log)")


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
