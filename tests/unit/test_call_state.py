"""The one word a call's state shows (`ctl status`, the terminal status line): ours while
the call is set up or ended by us, Vapi's while it is up."""

from __future__ import annotations

import json

from bridge.call.state import CallState, VapiStatus, shown
from bridge.vapi import messages
from bridge.vapi.messages import StatusUpdate


def update(vapi: VapiStatus, status: str, reason: str | None = None) -> bool:
    return vapi.update(StatusUpdate("status-update", {}, status=status, ended_reason=reason),
                       "12345678")


def test_the_word_shown_through_a_call() -> None:
    vapi = VapiStatus()
    assert shown(CallState.CREATING, vapi) == "creating"
    assert shown(CallState.CONNECTING, vapi) == "connecting"
    assert shown(CallState.IN_CALL, vapi) == "connected"  # before Vapi's first status
    assert not update(vapi, "in-progress")
    assert shown(CallState.IN_CALL, vapi) == "in-progress"
    assert not update(vapi, "")  # an empty status keeps the last one
    assert shown(CallState.IN_CALL, vapi) == "in-progress"
    assert shown(CallState.ENDING, vapi) == "ending"  # we asked Vapi to end it
    assert update(vapi, "ended", "customer-ended-call")
    assert vapi.ended.is_set()
    assert shown(CallState.ENDING, vapi) == "ended"  # Vapi has the last word
    assert shown(CallState.ENDED, vapi) == "ended"


def test_a_stale_status_does_not_take_the_call_back() -> None:
    """Vapi's status-updates may come duplicated or reordered: a `ringing` after
    `in-progress` left `ctl status` (and the status line, STATUS=) saying "ringing" for the
    rest of the conversation; one after `ended` would undo it."""
    vapi = VapiStatus()
    update(vapi, "in-progress")
    assert not update(vapi, "ringing")
    assert shown(CallState.IN_CALL, vapi) == "in-progress"
    update(vapi, "forwarding")
    update(vapi, "in-progress")  # a transfer that did not go through
    assert shown(CallState.IN_CALL, vapi) == "in-progress"
    assert update(vapi, "ended", "assistant-ended-call")
    assert not update(vapi, "in-progress")
    assert shown(CallState.ENDED, vapi) == "ended"
    assert not update(vapi, "some-new-status")  # not even one not Vapi's today
    assert vapi.status == "ended"


def test_a_status_outside_the_calls_life_does_not_make_a_stale_one_good() -> None:
    """One not Vapi's today ranked below every stage: a `ringing` after it was taken, and
    `ctl status` said "ringing" for the rest of the call; so after one of a call's record
    (`not-found`, `deletion-failed`: in the schema's enum), which is not shown at all."""
    for other in ("some-new-status", "not-found", "deletion-failed"):
        vapi = VapiStatus()
        update(vapi, "in-progress")
        assert not update(vapi, other)
        assert shown(CallState.IN_CALL, vapi) == (other if other.startswith("some") else
                                                  "in-progress")
        for stale in ("scheduled", "queued", "ringing"):
            assert not update(vapi, stale)
        assert vapi.status in ("in-progress", other), (other, vapi.status)
        update(vapi, "forwarding")
        assert shown(CallState.IN_CALL, vapi) == "forwarding"
        assert update(vapi, "ended", "assistant-ended-call")
        assert not update(vapi, other)  # nothing takes an ended call back
        assert shown(CallState.ENDED, vapi) == "ended"


def test_phases() -> None:
    assert [s.setting_up for s in CallState] == [True, True, False, False, False]
    assert [s.over for s in CallState] == [False, False, False, True, True]


def test_vapis_longest_ended_reasons_arrive_whole() -> None:
    """Vapi's endedReason enum runs to 121 characters: none is cut in the summary."""
    from bridge.call.summary import outcome

    longest = ("call.in-progress.error-vapifault-eleven-labs-blocked-voice-potentially-against-"
               "terms-of-service-and-awaiting-verification")
    event = messages.parse_event(json.dumps({"type": "status-update", "status": "ended",
                                             "endedReason": longest}))
    assert isinstance(event, messages.StatusUpdate) and event.ended_reason == longest
    assert outcome({"endedReason": longest, "cost": 0.1}, "ended") == (longest, 0.1)
