"""The documented Python API (bridge.client): place a call, steer it, listen to it."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bridge.client import AudioChunk, ListenEvent, Transcript, listen, open_call
from bridge.control import Refused
from tests.control.conftest import received
from tests.e2e.conftest import KEY, ProfileBuilder


def test_open_call_say_events_listen_end(start_sim, profiles: ProfileBuilder,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    sim = start_sim(assistant="echo")
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    profile = profiles.write(sim.base_url, call={"max_duration_seconds": 30})
    heard: list[AudioChunk] = []
    frames: list[ListenEvent] = []

    async def scenario() -> tuple[str, str, list[str]]:
        async with open_call(str(profile)) as call:
            assert call.status in ("connected", "in-progress")

            async def monitor() -> None:
                async for item in listen(await call.listen_url()):
                    if isinstance(item, ListenEvent):
                        frames.append(item)
                    else:
                        heard.append(item)
                    if sum(c.seconds for c in heard) >= 1.0:
                        return

            listener = asyncio.create_task(monitor())
            via = await call.say("Hello from a script.")
            said = []
            async for event in call.events():
                if isinstance(event, Transcript) and event.final:
                    said.append(event.text)
                    break
            await asyncio.wait_for(listener, 10)
            await call.end()
            with pytest.raises(Refused, match="no call in progress"):
                await call.say("too late")
        assert call.summary is not None
        return via, call.summary.ended_reason, said

    via, reason, said = asyncio.run(scenario())
    assert via == "socket"
    assert said == ["Hello from a script."]
    assert reason == "customer-ended-call"
    assert frames[0].type == "listen-start"
    chunk = heard[0]
    assert chunk.rate == 16000 and chunk.channels == 2 and chunk.samples.dtype == np.int16
    assert chunk.labels == ("customer", "assistant")
    assert np.array_equal(chunk.channel("assistant"), chunk.samples[:, 1])
    record = sim.only_call()
    assert [m["type"] for _, m in received(record)] == ["say", "end-call"]
