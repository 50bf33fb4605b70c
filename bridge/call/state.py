"""Where one call is in its life, as this client sees it.

`creating` (POST /call) → `connecting` (the call socket) → `connected` (audio both ways) →
`ending` (we asked Vapi to end it) → `ended` (the socket is closed; nothing more comes).
A call that fails or is lost goes straight to `ended`. Vapi's own status (`status-update`:
queued, ringing, in-progress, forwarding, ended) is another thing, kept apart as
`Call.vapi` (`VapiStatus`): what Vapi is doing with the call, not what this client is.
"""

from __future__ import annotations

import asyncio
import enum
import logging

from bridge.vapi.messages import StatusUpdate

log = logging.getLogger("bridge.call")
# where each of Vapi's statuses lies in a call's life: one arriving after a later one
# (duplicated, reordered) is stale; forwarding may turn back to in-progress
STAGE = {"scheduled": 0, "queued": 0, "ringing": 1, "in-progress": 2, "forwarding": 2,
         "ended": 3}
# the schema's other statuses (`ServerMessageStatusUpdate.status`): a call's record, not its
# life (a lookup or a deletion that failed): logged, never shown for the call's status
RECORD_ONLY = ("not-found", "deletion-failed")


class CallState(enum.Enum):
    CREATING = "creating"
    CONNECTING = "connecting"
    IN_CALL = "connected"
    ENDING = "ending"
    ENDED = "ended"

    @property
    def setting_up(self) -> bool:
        return self in (CallState.CREATING, CallState.CONNECTING)

    @property
    def over(self) -> bool:
        return self in (CallState.ENDING, CallState.ENDED)


# when the daemon's spending settler asks again about a call left open (`left_open`): a
# daemon in `once` mode (`run`) exits after its call, so its next start asks there
ASKED_AGAIN = "every 30 s while the daemon runs, and at its next start"
# what becomes of a call Vapi never confirmed ended (`VapiStatus.follow_up`): the daemon's; and a
# script's (`bridge.client`), which no settler follows: none runs once its call is closed
DAEMON_FOLLOW_UP = f"asked again {ASKED_AGAIN}, and ended through its controlUrl if it goes on"
SCRIPT_FOLLOW_UP = ("Vapi may bill it until Vapi ends it, and nothing asks again once this "
                    "script's call is closed: Vapi's dashboard shows whether it goes on")
# Vapi's statuses of a call it has not ended: what it says of the call then (its cost) is
# so far, not final
GOING_ON = ("scheduled", "queued", "ringing", "in-progress", "forwarding")


class VapiStatus:
    """What Vapi says of the call in its `status-update`s, apart from `CallState`: the
    last status it gave (None before the first), and whether it has ended the call; and
    the code it closed the call socket with when it did so unsaid (no status-update ended,
    a code other than 1000: the summary asks Vapi how the call ended); and whether the
    watchdog found the link lost (`watch_lost`: Vapi may not have noticed, and goes on); and
    whether a call whose socket closed unsaid may be billed still, Vapi not asked or not
    told to end it (`left_open`: the daemon's spending settler asks again)."""

    def __init__(self) -> None:
        self.status: str | None = None
        self._stage = -1  # the life stage (`STAGE`) of the latest status taken
        self.ended = asyncio.Event()
        self.closed_unsaid: int | None = None
        self.watch_lost = False
        self.left_open = False
        self.follow_up = DAEMON_FOLLOW_UP  # what becomes of it then (a script's: bridge.client)
        self.end_sent = False  # we asked for the end (end-call)
        self.end_stalled: float | None = None  # the link's stall then (`hangup`), if any
        self.transfer: str | None = None  # where Vapi said it transfers the call (inert)

    def update(self, event: StatusUpdate, label: str, ours: str | None = None) -> bool:
        """Take a status update; True when it says the call has ended. A stale one (of an
        earlier stage of the call's life, any after `ended`) is ignored, as is one of the
        call's record (`RECORD_ONLY`); one not Vapi's today is taken as it comes, but does
        not make a stale one good after it (it ranked below every stage: a `ringing`
        after it was shown for the rest of the call). `ours`: the reason
        the kiosk ended the call for (`visitor-left`), said beside Vapi's in the log line,
        which otherwise reads as if the visitor had hung up."""
        if (self.ended.is_set() and event.status != "ended") or \
                STAGE.get(event.status, self._stage) < self._stage:
            log.debug("call %s: %s after %s: stale, ignored", label, event.status, self.status)
            return False
        if event.status in RECORD_ONLY:
            log.info("call %s: Vapi says %s (the call's record): the call goes on", label,
                     event.status)
            return False
        if event.status and event.status != self.status:
            reason = event.ended_reason
            if reason == "customer-ended-call" and ours:
                reason += f": the kiosk ended it, {ours}"
            log.info("call %s: %s", label, event.status + (f" ({reason})" if reason else ""))
        self.status = event.status or self.status
        self._stage = STAGE.get(event.status, self._stage)  # (one not Vapi's today: unranked)
        if event.status != "ended":
            return False
        self.ended.set()
        return True


def shown(state: CallState, vapi: VapiStatus) -> str:
    """The one word people see (`ctl status`, the status line): Vapi's status while the
    call is up (once Vapi has given one) and once Vapi has ended it, else ours."""
    if vapi.status and (state is CallState.IN_CALL or vapi.ended.is_set()):
        return vapi.status
    return state.value
