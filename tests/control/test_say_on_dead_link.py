"""A `say` while the call socket is dead (it carries nothing, and its ping goes unanswered)
but the call goes on at Vapi: `call.say` takes the controlUrl and says so, and Vapi gets
it. Before, it was written into the dead socket's buffer and reported as gone by "socket",
and Vapi never got it. Through the Python API and the simulator's `ws-drop` (at 1 s the
socket goes dead; the call stays in progress)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bridge.client import open_call
from tests.control.conftest import received
from tests.e2e.conftest import KEY, ProfileBuilder

DEAD_AT_S = 1.0
SAY_AT_S = 5.5  # dead 4.5 s: pinged after 2 s of nothing, unanswered; lost only at 9 s


def test_a_say_on_a_dead_link_goes_by_the_control_url(
        start_sim, profiles: ProfileBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = start_sim(assistant="echo", faults=(f"ws-drop={DEAD_AT_S:g}@60",))
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    profile = profiles.write(sim.base_url, call={"max_duration_seconds": 60})

    async def scenario() -> tuple[str, str, str]:
        async with open_call(str(profile)) as call:
            start = time.monotonic()
            before = await call.say("Hello.")  # the link is up: the socket
            await asyncio.sleep(SAY_AT_S - (time.monotonic() - start))
            assert not call.done, "the call is not lost yet"
            via = await call.say("One moment, please.")
            return before, via, call.call.info.id

    before, via, call_id = asyncio.run(scenario())
    got = [(source, m.get("content")) for source, m in received(sim.get(f"/_sim/calls/{call_id}"))
           if m.get("type") == "say"]
    assert before == "socket" and ("socket", "Hello.") in got, got
    assert via == "control-url", via  # the route it really took
    assert ("control", "One moment, please.") in got, got  # and Vapi got it
