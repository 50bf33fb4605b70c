"""Calls the simulator ends by itself, and the client ending them by closing."""

from __future__ import annotations

import asyncio

from tests.sim.conftest import (
    Peer,
    create_call,
    get_json,
    open_call,
    run,
    sim_report,
    simulator,
    ws_body,
)


def test_silence_timeout_without_uplink_frames() -> None:
    async def body() -> None:
        async with simulator(default_silence_timeout=0.6) as sim:
            call = await create_call(sim, ws_body(firstMessage=""))
            peer = await Peer.open(call["transport"]["websocketCallUrl"], mic=False)
            ended = await peer.wait_event("status-update", status="ended", timeout=5)
            assert ended["endedReason"] == "silence-timed-out"
            await peer.wait_closed()
            assert peer.ws.close_code == 1000
            got = await get_json(sim, f"/call/{call['id']}", auth=True)
            assert (got["status"], got["endedReason"]) == ("ended", "silence-timed-out")
            assert "nobody spoke" in got["endedMessage"]
            await peer.close()

    run(body())


def test_streaming_silence_frames_keeps_the_call_alive() -> None:
    async def body() -> None:
        async with simulator(default_silence_timeout=0.6) as sim:
            call = await create_call(sim, ws_body(firstMessage=""))
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await asyncio.sleep(1.5)
            assert not peer.find("status-update", status="ended")
            peer.mic_on = False  # the microphone stops: no frames at all
            ended = await peer.wait_event("status-update", status="ended", timeout=5)
            assert ended["endedReason"] == "silence-timed-out"
            rep = await sim_report(sim, call["id"])
            assert rep["uplink"]["frames"] >= 40
            await peer.close()

    run(body())


def test_max_duration() -> None:
    async def body() -> None:
        async with simulator() as sim:
            call = await create_call(sim, ws_body(firstMessage="", maxDurationSeconds=1.0))
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            ended = await peer.wait_event("status-update", status="ended", timeout=5)
            assert ended["endedReason"] == "exceeded-max-duration"
            rep = await sim_report(sim, call["id"])
            assert rep["endedMonotonic"] - rep["connectedMonotonic"] >= 0.9
            await peer.wait_closed()
            assert peer.ws.close_code == 1000
            await peer.close()

    run(body())


def test_limits_strict_like_vapi_when_asked() -> None:
    async def body() -> None:
        import httpx

        from tests.sim.conftest import AUTH
        async with simulator(strict_limits=True) as sim, \
                httpx.AsyncClient(base_url=sim.base_url) as c:
            r = await c.post("/call", json=ws_body(maxDurationSeconds=2), headers=AUTH)
            assert r.status_code == 400
            assert r.json()["message"] == [
                "assistantOverrides.maxDurationSeconds must not be less than 10"]

    run(body())


def test_never_connected_from_the_config_timeout() -> None:
    async def body() -> None:
        async with simulator(never_connected_timeout=0.3) as sim:
            call = await create_call(sim)
            await asyncio.sleep(0.8)
            got = await get_json(sim, f"/call/{call['id']}", auth=True)
            assert got["endedReason"] == \
                "call.in-progress.error-vapifault-transport-never-connected"
            assert "startedAt" not in got

    run(body())


def test_an_ended_sent_ahead_of_the_goodbye_is_the_calls_record_too() -> None:
    """Fault `ended-first`: the `ended` Vapi sends ahead of a goodbye's audio is what its
    record says from then on (GET /call/{id}), not the client's close that followed it
    (customer-ended-call: a bridge's summary printed that beside its log's reason)."""
    async def body() -> None:
        async with simulator(speech="tones", faults=("ended-first",)) as sim:
            call, peer = await open_call(sim)
            await peer.send_json({"type": "say", "content": "Goodbye.",
                                  "endCallAfterSpoken": True})
            ended = await peer.wait_event("status-update", status="ended")
            await peer.close()  # at once, as a client does on `ended`
            got = await get_json(sim, f"/call/{call['id']}", auth=True)
            assert (got["status"], got["endedReason"]) == ("ended", ended["endedReason"])
            assert ended["endedReason"] == "assistant-ended-call-after-message-spoken"

    run(body())
