"""Fuzzing the client over a real call socket: hypothesis makes batches of text frames —
random JSON, every event type with anything in every field, nesting thousands deep,
5,000-digit numbers, escaped lone surrogates, control characters — and the simulator sends
them mid-call over loopback to a real `Call`. The call must stay up (no connection lost,
the uplink still flowing), hand on only events whose text is inert, and end normally."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.audio.files import ClockedSink, NullSource
from bridge.call.lifecycle import Call
from bridge.profile import parse_profile
from bridge.sim import SimConfig, Simulator
from bridge.vapi import messages
from bridge.vapi.api import VapiApi
from tests.unit.hostile import KEYS, TYPES, check, json_value

pytestmark = pytest.mark.timeout(300)
DONE = '{"type":"fuzz-done"}'

deep = st.integers(min_value=100, max_value=6000).map(lambda n: "[" * n + "]" * n)
huge = st.integers(min_value=4000, max_value=6000).map(
    lambda n: '{"type":"speech-update","role":"user","status":"started","turn":' + "7" * n + "}")
surrogate = st.sampled_from(["\\ud83c", "\\udfff", "\\ud800\\ud800"]).map(
    lambda s: '{"type":"transcript","role":"assistant","transcriptType":"final",'
              f'"transcript":"ends in {s}"}}')
typed = st.builds(lambda kind, body: json.dumps({**body, "type": kind}),
                  st.sampled_from(TYPES),
                  st.dictionaries(st.sampled_from([k for k in KEYS if k != "type"]),
                                  json_value, max_size=6))
frame = st.one_of(typed, json_value.map(json.dumps), deep, huge, surrogate, st.text(max_size=50))


async def fuzz_call(frames: list[str]) -> tuple[Call, list[messages.Event]]:
    async with Simulator(SimConfig(port=0, api_key="k", assistant="echo")) as sim:
        profile = parse_profile(
            f"api: {{base_url: '{sim.base_url}'}}\naudio: {{input: 'null', output: 'null'}}\n"
            "assistant: {id: echo, overrides: {firstMessage: '', maxDurationSeconds: 60}}\n")
        sink, source = ClockedSink(16000, None), NullSource(16000)
        sink.start()
        seen: list[messages.Event] = []
        async with VapiApi(sim.base_url, "k") as api:
            call = Call(profile, api, source, sink)
            try:
                await call.start()
                assert call.info is not None
                assert sim.send_text(call.info.id, [*frames, DONE])

                async def until_done() -> None:
                    async for event in call.events():
                        seen.append(event)
                        if event.type == "fuzz-done":
                            return
                await asyncio.wait_for(until_done(), 30)
                assert not call.done and call.ended_reason is None, call.ended_reason
                before = (sim.report(call.info.id) or {})["uplink"]["frames"]
                await asyncio.sleep(0.3)
                after = (sim.report(call.info.id) or {})["uplink"]["frames"]
                assert after > before, "the uplink still flows after the frames"
            finally:
                await call.close()
                sink.close()
    return call, seen


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(frame, min_size=20, max_size=60))
def test_a_call_survives_any_frames_the_server_sends(frames: list[str]) -> None:
    call, seen = asyncio.run(fuzz_call(frames))
    assert call.summary is not None
    assert call.summary.ended_reason == "customer-ended-call", call.summary.line()
    assert not call.summary.connection_lost
    for event in seen:
        check(event)
    malformed = sum(isinstance(messages.parse_event(f), messages.MalformedEvent)
                    for f in frames)
    assert call.malformed == malformed, "every unusable frame was dropped and counted"


def test_the_hostile_frames_the_simulator_knows_are_survived_too() -> None:
    from bridge.sim.hostile import HOSTILE_FRAMES

    call, seen = asyncio.run(fuzz_call(list(HOSTILE_FRAMES)))
    assert call.summary is not None and not call.summary.connection_lost
    texts: list[Any] = [e.text for e in seen if isinstance(e, messages.Transcript)]
    assert "Your table is ready \\ud83c" in texts
