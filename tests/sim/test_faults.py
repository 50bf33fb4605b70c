"""Socket faults, per call (``?fault=`` / ``X-Sim-Fault``) and global (SimConfig.faults)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import numpy as np

from tests.sim.conftest import (
    Peer,
    create_call,
    get_json,
    open_call,
    run,
    sim_report,
    simulator,
    voiced,
    wait_until,
    ws_body,
)


def fault(spec: str) -> dict[str, str]:
    return {"fault": spec}


def test_ws_close_1006_aborts_without_close_frame_and_only_that_call() -> None:
    async def body() -> None:
        async with simulator() as sim:
            doomed = await create_call(sim, params=fault("ws-close-1006=0.4"))
            healthy = await create_call(sim)
            a = await Peer.open(doomed["transport"]["websocketCallUrl"])
            b = await Peer.open(healthy["transport"]["websocketCallUrl"])
            await a.wait_closed(5)
            assert a.ws.close_code == 1006
            assert not a.find("status-update", status="ended")
            got = await get_json(sim, f"/call/{doomed['id']}", auth=True)
            assert got["status"] == "ended"
            assert got["endedReason"] == "call.in-progress.error-vapifault-worker-died"
            assert (await sim_report(sim, doomed["id"]))["closeCode"] == 1006
            await asyncio.sleep(0.2)
            assert b.ws.close_code is None  # per-call faults stay on their call
            assert (await sim_report(sim, healthy["id"]))["faults"] == []
            await a.close()
            await b.close()

    run(body())


def test_ws_drop_goes_silent_then_drops_tcp() -> None:
    async def body() -> None:
        async with simulator() as sim:
            call = await create_call(sim, headers={"X-Sim-Fault": "ws-drop=0.4@1.0"})
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await asyncio.sleep(0.9)
            n_audio, n_events = len(peer.audio), len(peer.events)
            assert n_audio > 0
            await peer.send_json({"type": "end-call"})  # not read any more
            await asyncio.sleep(0.3)
            assert len(peer.audio) == n_audio and len(peer.events) == n_events
            assert peer.ws.close_code is None
            await peer.wait_closed(5)
            assert peer.ws.close_code == 1006
            rep = await sim_report(sim, call["id"])
            assert rep["endedReason"] == "call.in-progress.error-vapifault-worker-died"
            assert not any(m.get("message") == {"type": "end-call"}
                           for m in rep["messagesReceived"])
            await peer.close()

    run(body())


def test_malformed_json_frames_are_sent_between_real_events() -> None:
    async def body() -> None:
        async with simulator() as sim:
            call = await create_call(sim, params=fault("malformed-json=0.1"))
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await wait_until(lambda: len(peer.texts) >= 8, 5)
            bad = 0
            for text in peer.texts:
                try:
                    parsed = json.loads(text)
                except ValueError:
                    bad += 1
                    continue
                if not isinstance(parsed, dict) or parsed.get("type") not in (
                        "status-update", "speech-update", "transcript"):
                    bad += 1
            assert bad >= 5
            await peer.send_json({"type": "end-call"})
            await peer.wait_event("status-update", status="ended")
            rep = await sim_report(sim, call["id"])
            assert len(rep["faultFramesSent"]) >= 5
            await peer.close()

    run(body())


def test_odd_binary_even_in_frames_mode() -> None:
    async def body() -> None:
        async with simulator(downlink_chunking="frames", faults=("odd-binary",)) as sim:
            call = await create_call(sim)
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await wait_until(lambda: len(peer.chunks) >= 20, 5)
            assert all(n % 2 == 1 for _, n in peer.chunks)
            assert {n for _, n in peer.chunks} <= {639, 641}
            await peer.close()

    run(body())


def test_stall_then_catch_up() -> None:
    async def body() -> None:
        async with simulator() as sim:
            call = await create_call(sim, params=fault("stall=600@0.3"))
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await asyncio.sleep(1.6)
            times = [t for t, _ in peer.chunks]
            gaps = np.diff(times)
            assert gaps.max() >= 0.45  # the stall
            assert len(peer.audio) >= 0.6 * 32000 * (time.monotonic() - peer.connected)
            await peer.close()

    run(body())


def test_burst_sends_a_second_at_once() -> None:
    async def body() -> None:
        async with simulator() as sim:
            call = await create_call(sim, params=fault("burst=0.2"))
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await asyncio.sleep(0.6)
            times = np.array([t for t, _ in peer.chunks])
            sizes = np.array([n for _, n in peer.chunks])
            windows = [sizes[(times >= t) & (times < t + 0.15)].sum() for t in times]
            assert max(windows) >= 32000  # >= 1 s of 16 kHz s16le within 150 ms
            mid = len(peer.audio)
            await asyncio.sleep(0.3)
            assert len(peer.audio) == mid  # then nothing until real time catches up
            await peer.close()

    run(body())


def test_delay_in_progress() -> None:
    async def body() -> None:
        async with simulator() as sim:
            call = await create_call(sim, params=fault("delay-in-progress=700"))
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await peer.wait_event("status-update", status="in-progress", timeout=5)
            at = peer.event_times[0]
            assert at >= 0.6
            assert peer.chunks and peer.chunks[0][0] - peer.connected < at  # audio came first
            await peer.close()

    run(body())


def test_jitter_keeps_the_average_rate() -> None:
    async def body() -> None:
        async with simulator() as sim:
            call = await create_call(sim, params=fault("jitter=60"))
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await asyncio.sleep(1.5)
            elapsed = time.monotonic() - peer.connected
            assert 0.6 * 32000 * elapsed <= len(peer.audio) <= 32000 * elapsed + 4000
            rep = await sim_report(sim, call["id"])
            assert rep["faults"] == ["jitter=60"]
            await peer.close()

    run(body())


def test_hang_event_before_a_slow_reply() -> None:
    async def body() -> None:
        async with simulator() as sim:
            call = await create_call(sim, params=fault("hang=600"))
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            peer.speak(voiced(0.5))
            await peer.wait_event("model-output", timeout=6)
            types = [e["type"] for e in peer.events]
            assert "hang" in types and types.index("hang") < types.index("model-output")
            assert types.index("hang") > types.index("speech-update")
            assert not peer.find("status-update", status="ended")  # hang is not a hangup
            await peer.close()

    run(body())


def test_wrapped_events_and_spec_shapes() -> None:
    async def body() -> None:
        async with simulator() as sim:
            call = await create_call(sim, ws_body(firstMessage=""),
                                     params=fault("wrapped-events,spec-shapes"))
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await wait_until(lambda: bool(peer.events), 5)
            first = peer.events[0]
            assert set(first) == {"message"}
            inner = first["message"]
            assert inner["type"] == "status-update" and inner["status"] == "in-progress"
            assert isinstance(inner["timestamp"], int) and inner["call"]["id"] == call["id"]
            await peer.send_json({"type": "add-message", "triggerResponseEnabled": False,
                                  "message": {"role": "user", "content": "Hi."}})
            await wait_until(lambda: any(e["message"]["type"] == "conversation-update"
                                         for e in peer.events), 5)
            conv = next(e["message"] for e in peer.events
                        if e["message"]["type"] == "conversation-update")
            assert "conversation" not in conv
            assert conv["messages"][-1] == {"role": "user", "message": "Hi."}
            await peer.close()

    run(body())


def test_end_close_variants() -> None:
    async def body() -> None:
        async with simulator() as sim:
            for code, seen in ((1005, 1005), (1006, 1006), (1001, 1001)):
                _, peer = await open_call(sim, params=fault(f"end-close={code}"))
                await peer.send_json({"type": "end-call"})
                await peer.wait_event("status-update", status="ended")
                await peer.wait_closed(5)
                assert peer.ws.close_code == seen, code
                await peer.close()

    run(body())


def test_monitor_in_create_variant() -> None:
    async def body() -> None:
        async with simulator() as sim:
            call = await create_call(sim, params=fault("monitor-in-create"))
            assert set(call["monitor"]) == {"listenUrl", "controlUrl"}

    run(body())


def test_no_bed_sends_the_speech_alone() -> None:
    """`no-bed`: the greeting's audio, whole and in whole samples, and nothing after it."""
    async def body() -> None:
        async with simulator(faults=("no-bed",)) as sim:
            call = await create_call(sim, ws_body(firstMessage="Hello there."))
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await peer.wait_event("speech-update", role="assistant", status="stopped")
            await asyncio.sleep(0.6)
            sent = len(peer.audio)
            await asyncio.sleep(0.5)
            assert len(peer.audio) == sent, "nothing between utterances"
            await peer.close()
            async with httpx.AsyncClient(base_url=sim.base_url, timeout=10) as c:
                said = (await c.get(f"/_sim/calls/{call['id']}/downlink.wav")).content
            got = bytes(peer.audio)
            assert 0.5 < len(got) / 32000 < 3.0 and len(got) % 2 == 0, len(got)
            at = said.find(got)  # one piece of the stream, in whole samples
            assert at > 0 and (at - said.find(b"data") - 8) % 2 == 0, at
            loud = np.abs(peer.received()[:800].astype(np.int32)) >= 330
            assert loud.any(), "speech from its first 50 ms: no near-silence before it"

    run(body())


def test_user_partials_come_while_the_visitor_speaks() -> None:
    async def body() -> None:
        async with simulator(faults=("user-partials",)) as sim:
            _, peer = await open_call(sim, ws_body(firstMessage=""))
            peer.speak(voiced(1.6))
            final = await peer.wait_event("transcript", role="user", transcriptType="final")
            k = peer.events.index(final)
            partials = [t for e, t in zip(peer.events[:k], peer.event_times[:k], strict=True)
                        if e.get("type") == "transcript" and e.get("role") == "user"]
            assert len(partials) >= 3, partials  # at 0.48, 0.96, 1.44 s, and with the final
            assert partials[0] < peer.event_times[k] - 1.0, "the first long before the end"
            await peer.close()

    run(body())


def test_long_history_sends_a_long_calls_conversation_updates() -> None:
    """`long-history=KIB@S`: each conversation-update carries KIB KiB of earlier turns in
    Vapi's two shapes, a turn more each time, one every S s too; the record keeps its size."""
    async def body() -> None:
        async with simulator() as sim:
            call = await create_call(sim, params=fault("long-history=200@0.2"))
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await wait_until(lambda: len(peer.find("conversation-update")) >= 2, 8)
            first, second = peer.find("conversation-update")[:2]
            assert len(second["messages"]) == len(first["messages"]) + 1
            assert len(first["messagesOpenAIFormatted"]) == len(first["messages"])
            assert {"role", "message", "time", "secondsFromStart"} <= set(first["messages"][0])
            sizes = [len(t) for t in peer.texts if '"conversation-update"' in t[:40]]
            assert 200 * 1024 <= sizes[0] < sizes[1] < 220 * 1024
            await peer.send_json({"type": "end-call"})
            await peer.wait_event("status-update", status="ended")
            rep = await sim_report(sim, call["id"])
            kept = [e["event"] for e in rep["eventsSent"]
                    if e["event"]["type"] == "conversation-update"]
            assert kept[0] == {"type": "conversation-update", "longHistoryBytes": sizes[0]}
            await peer.close()

    run(body())


def test_schema_variants_cover_the_schema_and_follow_client_messages() -> None:
    """`schema-variants`: every status of the schema's enum but `ended` and every type
    `clientMessages` can ask for, each valid JSON; the call's list selects them (the
    default list leaves out `metadata`, `language-changed`, `tool-calls-result`), and
    `language-changed` selects the `language-change-detected` message."""
    from bridge.sim import schema
    from bridge.sim.events import ENUM_VALUE
    from bridge.sim.variants import catalogue

    sent = catalogue()
    statuses = {e["status"] for e in sent if e["type"] == "status-update"}
    assert statuses == set(schema.enum("status")) - {"ended"}
    types = {ENUM_VALUE.get(e["type"], e["type"]) for e in sent}
    assert set(schema.enum("clientMessages")) - types == {"user-interrupted"}
    assert all(json.loads(json.dumps(e)) == e for e in sent)

    async def body() -> None:
        async with simulator() as sim:
            for listed, expected in ((None, {"metadata": 0, "language-change-detected": 0,
                                             "hang": 1, "assistant.speechStarted": 0}),
                                     (["language-changed", "metadata"],
                                      {"metadata": 1, "language-change-detected": 1,
                                       "hang": 0, "status-update": 0})):
                overrides = {} if listed is None else {"clientMessages": listed}
                call = await create_call(sim, ws_body(firstMessage="", **overrides),
                                         params=fault("schema-variants=0"))
                peer = await Peer.open(call["transport"]["websocketCallUrl"])
                # after the others in the catalogue: the one of each list sent last
                last = "function-call" if listed is None else "language-change-detected"
                await peer.wait_event(last, 5)
                got = {kind: len(peer.find(kind)) for kind in expected}
                assert got == expected, (listed, got)
                await peer.close()

    run(body())
