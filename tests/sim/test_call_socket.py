"""The call socket with a plain websockets client: echo, events, chunking, commands."""

from __future__ import annotations

import asyncio
import io
import time
import wave
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.sim.conftest import (
    AUTH,
    Peer,
    best_corr,
    create_call,
    get_json,
    open_call,
    rms_dbfs,
    run,
    sim_report,
    simulator,
    voiced,
    wait_until,
    ws_body,
)


def assert_event_shapes(events: list[dict[str, Any]]) -> None:
    for e in events:
        t = e["type"]
        if t == "status-update":
            assert e["status"] in ("queued", "ringing", "in-progress", "forwarding", "ended")
        elif t == "speech-update":
            assert e["status"] in ("started", "stopped") and e["role"] in ("user", "assistant")
            assert isinstance(e["turn"], int)
        elif t == "transcript":
            assert e["role"] in ("user", "assistant")
            assert e["transcriptType"] in ("partial", "final")
            assert isinstance(e["transcript"], str)
        elif t == "conversation-update":
            assert all(isinstance(m["role"], str) for m in e["conversation"])
        elif t == "model-output":
            assert isinstance(e["output"], str) and isinstance(e["turnId"], str)
        elif t == "voice-input":
            assert isinstance(e["input"], str)
        elif t == "user-interrupted":
            assert "turnId" in e


async def read_wav(sim: Any, call_id: str, leg: str) -> tuple[np.ndarray, int]:
    async with httpx.AsyncClient(base_url=sim.base_url) as c:
        r = await c.get(f"/_sim/calls/{call_id}/{leg}.wav")
    assert r.status_code == 200 and r.headers["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(r.content)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"), w.getframerate()


def test_espeak_speech_is_echoed_with_documented_events(speech16k: np.ndarray) -> None:
    async def body() -> None:
        async with simulator() as sim:
            call, peer = await open_call(sim)
            t_start = time.monotonic()
            peer.speak(np.zeros(4800, dtype=np.int16))
            peer.speak(speech16k)
            await peer.wait_event("speech-update", role="assistant", status="stopped", timeout=15)
            await asyncio.sleep(0.2)
            elapsed = time.monotonic() - peer.connected
            received = peer.received()
            score, _ = best_corr(received, speech16k)
            assert score >= 0.9, score
            assert len(peer.audio) <= elapsed * 32000 * 1.05 + 4000  # not faster than real time
            assert len(peer.audio) >= (time.monotonic() - t_start) * 32000 * 0.6

            types = [e["type"] for e in peer.events]
            assert types[0] == "status-update"
            order = ["speech-update", "transcript", "conversation-update", "model-output",
                     "voice-input"]
            assert all(t in types for t in order)
            assert_event_shapes(peer.events)
            user_started = types.index("speech-update")
            assert peer.events[user_started]["role"] == "user"
            finals = peer.find("transcript", role="user", transcriptType="final")
            assert finals and finals[0]["transcript"].startswith("(speech ")
            partials = [e["transcript"] for e in peer.find("transcript", role="assistant",
                                                             transcriptType="partial")]
            final = peer.find("transcript", role="assistant", transcriptType="final")[0]
            for a, b in zip([*partials, final["transcript"]], [*partials, final["transcript"]][1:],
                            strict=False):
                assert b.startswith(a)  # cumulative, not deltas
            conv = peer.find("conversation-update")[-1]["conversation"]
            assert [m["role"] for m in conv] == ["system", "user", "assistant"]

            await peer.send_json({"type": "end-call"})
            ended = await peer.wait_event("status-update", status="ended")
            assert ended["endedReason"] == "customer-ended-call"
            await peer.wait_closed()
            assert peer.ws.close_code == 1000
            await peer.close()

            rep = await sim_report(sim, call["id"])
            assert rep["status"] == "ended" and rep["closeCode"] == 1000
            up = rep["uplink"]
            assert up["frames"] == len(up["frameBytes"]) == len(up["arrivalMonotonic"])
            assert set(up["frameBytes"]) == {640}
            assert abs(up["audioSeconds"] - up["frames"] * 0.02) < 1e-6
            assert up["arrivalSeconds"] == sorted(up["arrivalSeconds"])
            assert isinstance(up["maxGapMs"], float) and up["textFrames"] == 1
            assert rep["messagesReceived"][-1]["message"] == {"type": "end-call"}
            sent_types = [e["event"]["type"] for e in rep["eventsSent"]]
            assert sent_types == [e["type"] for e in peer.events]
            sizes = rep["downlink"]["chunkBytes"]
            assert rep["downlink"]["bytes"] == len(peer.audio) == sum(sizes)
            assert any(s % 2 for s in sizes) and not any(s % 640 == 0 for s in sizes)

            uplink, rate = await read_wav(sim, call["id"], "uplink")
            assert rate == 16000 and best_corr(uplink, speech16k)[0] > 0.99
            downlink, _ = await read_wav(sim, call["id"], "downlink")
            assert best_corr(downlink, speech16k)[0] > 0.99
            assert abs(len(downlink) - len(received)) <= 2000

            got = await get_json(sim, f"/call/{call['id']}", auth=True)
            assert got["status"] == "ended" and got["endedReason"] == "customer-ended-call"
            assert got["cost"] > 0 and got["startedAt"] <= got["endedAt"]
            roles = [m["role"] for m in got["messages"]]
            assert roles == ["system", "user", "bot"]
            keys = {"role", "message", "time", "endTime", "secondsFromStart", "duration"}
            for m in got["messages"][1:]:
                assert keys <= set(m)
                assert m["endTime"] >= m["time"] and m["secondsFromStart"] > 0

    run(body())


def test_mulaw_call_chunks_like_vapi_and_echoes() -> None:
    async def body() -> None:
        async with simulator() as sim:
            call = await create_call(sim, ws_body(fmt="mulaw", rate=8000, firstMessage=""))
            peer = await Peer.open(call["transport"]["websocketCallUrl"], "mulaw", 8000)
            voice = voiced(0.8, 8000)
            peer.speak(voice)
            await peer.wait_event("speech-update", role="assistant", status="stopped", timeout=10)
            sizes = [n for _, n in peer.chunks]
            assert min(sizes) >= 170 and max(sizes) <= 750
            assert not any(n % 160 == 0 for n in sizes)
            assert len(set(sizes)) > 5
            assert best_corr(peer.received(), voice)[0] > 0.9
            await peer.close()
            rep = await sim_report(sim, call["id"])
            assert rep["format"] == "mulaw" and set(rep["uplink"]["frameBytes"]) == {160}

    run(body())


def test_frames_chunking_sends_exact_20ms_frames() -> None:
    async def body() -> None:
        async with simulator(downlink_chunking="frames") as sim:
            call = await create_call(sim)
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await wait_until(lambda: len(peer.chunks) >= 25, 5)
            assert {n for _, n in peer.chunks} == {640}
            # near-silence, not digital silence, between utterances
            quiet = peer.received()
            assert np.any(quiet != 0) and np.max(np.abs(quiet)) <= 3
            await peer.close()

    run(body())


def test_say_and_end_call_after_spoken() -> None:
    async def body() -> None:
        async with simulator(speech="tones") as sim:
            _, peer = await open_call(sim)
            await peer.send_json({"type": "say", "content": "Hello there."})
            await peer.wait_event("transcript", role="assistant", transcriptType="final",
                                  transcript="Hello there.")
            await peer.send_json({"type": "say", "message": "Legacy form.",
                                  "endCallAfterSpoken": True})
            await peer.wait_event("transcript", role="assistant", transcriptType="final",
                                  transcript="Legacy form.")
            ended = await peer.wait_event("status-update", status="ended")
            assert ended["endedReason"] == "assistant-ended-call-after-message-spoken"
            await peer.wait_closed()
            assert peer.ws.close_code == 1000
            assert not peer.find("model-output")  # said lines do not come from the model
            await peer.close()

    run(body())


def test_add_message_with_and_without_response() -> None:
    async def body() -> None:
        async with simulator(speech="tones") as sim:
            call, peer = await open_call(sim)
            await peer.send_json({"type": "add-message", "message": {
                "role": "system", "content": "The visitor is Ann."},
                "triggerResponseEnabled": False})
            conv = await peer.wait_event("conversation-update")
            assert conv["conversation"][-1] == {"role": "system", "content": "The visitor is Ann."}
            await asyncio.sleep(0.4)
            assert not peer.find("model-output")
            await peer.send_json({"type": "add-message", "message": {
                "role": "user", "content": "Where is room 4?"}, "triggerResponseEnabled": True})
            out = await peer.wait_event("model-output")
            assert out["output"]
            await peer.wait_event("speech-update", role="assistant", status="stopped")
            got = await get_json(sim, f"/call/{call['id']}", auth=True)
            texts = [m["message"] for m in got["messages"]]
            assert "The visitor is Ann." in texts and "Where is room 4?" in texts
            await peer.close()

    run(body())


def test_control_mute_unmute_and_say_first_message() -> None:
    async def body() -> None:
        async with simulator(speech="tones", first_message="Hi there, welcome.") as sim:
            call, peer = await open_call(sim)
            await peer.send_json({"type": "control", "control": "mute-assistant"})
            await peer.send_json({"type": "control", "control": "say-first-message"})
            await peer.wait_event("speech-update", role="assistant", status="started")
            mark = len(peer.audio)
            await peer.wait_event("speech-update", role="assistant", status="stopped", timeout=15)
            muted = peer.received()[mark // 2:]
            assert len(muted) > 1600 and np.max(np.abs(muted)) <= 3
            await peer.send_json({"type": "control", "control": "unmute-assistant"})
            await peer.send_json({"type": "say", "content": "Audible now."})
            await peer.wait_event("transcript", role="assistant", transcriptType="final",
                                  transcript="Audible now.")
            assert rms_dbfs(peer.received()[mark // 2:]) > -40

            await peer.send_json({"type": "control", "control": "mute-customer"})
            await asyncio.sleep(0.1)
            peer.speak(voiced(0.6))
            await asyncio.sleep(1.5)
            assert not peer.find("speech-update", role="user")
            await peer.send_json({"type": "control", "control": "unmute-customer"})
            await asyncio.sleep(0.1)
            peer.speak(voiced(0.6))
            await peer.wait_event("speech-update", role="user", status="started")
            rep = await sim_report(sim, call["id"])
            controls = [m["message"].get("control") for m in rep["messagesReceived"]]
            assert controls[:2] == ["mute-assistant", "say-first-message"]
            await peer.close()

    run(body())


def test_transfer_forwards_then_ends() -> None:
    async def body() -> None:
        async with simulator(speech="tones") as sim:
            _, peer = await open_call(sim)
            dest = {"type": "number", "number": "+15550100"}
            await peer.send_json({"type": "transfer", "destination": dest})
            await peer.wait_event("status-update", status="forwarding")
            ended = await peer.wait_event("status-update", status="ended")
            assert ended["endedReason"] == "assistant-forwarded-call"
            assert peer.find("transfer-update")[0]["destination"] == dest
            statuses = [e["status"] for e in peer.find("status-update")]
            assert statuses == ["in-progress", "forwarding", "ended"]
            await peer.wait_closed()
            await peer.close()

            _, peer = await open_call(sim)
            sip = {"type": "sip", "sipUri": "sip:desk@example.com"}
            await peer.send_json({"type": "transfer", "destination": sip, "content": "Hold on."})
            await peer.wait_event("status-update", status="forwarding")
            types = [e["type"] for e in peer.events]
            said = peer.find("transcript", transcriptType="final", transcript="Hold on.")
            assert said and types.index("transcript") < types.index("transfer-update")
            ended = await peer.wait_event("status-update", status="ended")
            assert ended["endedReason"] == "assistant-forwarded-call"
            await peer.close()

    run(body())


def test_hangup_unknown_and_invalid_json() -> None:
    async def body() -> None:
        async with simulator() as sim:
            call, peer = await open_call(sim)
            with pytest.raises(InvalidStatus) as second:  # one socket per call
                await connect(call["transport"]["websocketCallUrl"])
            assert second.value.response.status_code == 409
            await peer.ws.send("{not json")
            await peer.send_json({"type": "no-such-thing", "x": 1})
            await peer.send_json(["not", "an", "object"])
            await asyncio.sleep(0.3)
            assert not peer.find("status-update", status="ended")
            await peer.send_json({"type": "hangup"})
            ended = await peer.wait_event("status-update", status="ended")
            assert ended["endedReason"] == "customer-ended-call"
            await peer.wait_closed()
            await peer.close()
            got = (await sim_report(sim, call["id"]))["messagesReceived"]
            assert got[0]["raw"] == "{not json" and got[0]["error"] == "invalid JSON"
            assert got[1]["message"] == {"type": "no-such-thing", "x": 1}
            assert got[3]["message"] == {"type": "hangup"}

    run(body())


def test_client_close_is_customer_ended_call() -> None:
    async def body() -> None:
        async with simulator() as sim:
            call, peer = await open_call(sim)
            await peer.ws.close(code=1000)
            await peer.close()
            await wait_until(lambda: sim.report(call["id"])["status"] == "ended", 5)  # type: ignore[index]
            got = await get_json(sim, f"/call/{call['id']}", auth=True)
            assert got["endedReason"] == "customer-ended-call"
            rep = await sim_report(sim, call["id"])
            assert rep["closeCode"] == 1000 and rep["endedMonotonic"] >= rep["connectedMonotonic"]
            async with httpx.AsyncClient(base_url=sim.base_url) as c:
                r = await c.get(f"/call/{call['id']}", headers=AUTH)
                assert r.json()["status"] == "ended"

    run(body())
