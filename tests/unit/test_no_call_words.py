"""What a command for the call says when there is none (`bridge.control.no_call`): how a
call starts, in the daemon's mode, from its status answer. Before, "no call in progress"
and no more; the daemons' own lines: tests/control/test_socket.py (standby) and
tests/service/test_spending_pause.py (loop mode at the limit)."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.control.no_call import how_a_call_starts, worded
from bridge.errors import NoCall, Refused


def status(mode: str, **more: Any) -> dict[str, Any]:
    return {"mode": mode, "state": "waiting for trigger", "call": None, "http": None,
            "wakeWord": None, "spending": {"refused": None}, **more}


@pytest.mark.parametrize(("answer", "said"), [
    (status("standby"), "start one with `vapi-bridge ctl call`"),
    (status("standby", http={"served": True, "url": "http://127.0.0.1:8181/"},
            wakeWord={"word": "hey_jarvis", "listening": True}),
     "start one with `vapi-bridge ctl call`, the kiosk screen's Call button or the wake "
     "word 'hey_jarvis'"),
    (status("standby", http={"served": False, "listen": "127.0.0.1:8181"}),
     "start one with `vapi-bridge ctl call`"),  # (a screen that is not served: no button)
    (status("loop", state="next call in 4 s (backing off after 2 failed calls)"),
     "loop mode places the next one on its own: next call in 4 s (backing off after 2 "
     "failed calls)"),
    (status("standby", spending={"refused": "spending limit reached: today's calls have "
                                             "cost $2.10, at or over call.max_daily_cost "
                                             "($2); no call is placed until tomorrow"}),
     "none can start now: spending limit reached: today's calls have cost $2.10, at or over "
     "call.max_daily_cost ($2)"),
    (status("once", state="ready"),
     "once mode places its call as the daemon starts: try again in a moment"),
    (status("once", call={"id": "1a2b3c4d"}),
     "once mode's one call is over: `vapi-bridge run` places another"),
])
def test_no_call_says_how_one_starts(answer: dict[str, Any], said: str) -> None:
    assert how_a_call_starts(answer) == said
    line = worded(NoCall("no call in progress"), lambda: answer)
    assert line == f"no call in progress — {said}"


def test_other_refusals_are_said_as_they_are() -> None:
    def unread() -> dict[str, Any]:
        raise AssertionError("the status is read only for a command with no call")

    still = Refused("the call is still being set up; try again in a moment")
    assert worded(still, unread) == str(still)
