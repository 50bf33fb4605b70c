"""The tone, script and replay assistants."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np

from tests.sim.conftest import (
    RECORDING,
    Peer,
    create_call,
    rms_dbfs,
    run,
    sim_report,
    simulator,
    voiced,
    wait_until,
)


def tone_power(x: np.ndarray, freq: float, rate: int) -> float:
    """Fraction of the signal's power at ``freq`` (±50 Hz)."""
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    band = (freqs > freq - 50) & (freqs < freq + 50)
    return float(spec[band].sum() / max(spec.sum(), 1e-9))


def test_tone_beeps_at_known_times_with_markers_both_ways() -> None:
    async def body() -> None:
        async with simulator(assistant="tone") as sim:
            call = await create_call(sim)
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            looped = 0
            for _ in range(100):  # a "speaker -> microphone" loop for ~2 s
                await asyncio.sleep(0.02)
                rx = peer.received()
                peer.speak(rx[looped:])
                looped = len(rx)
            await asyncio.sleep(0.3)
            rep = await sim_report(sim, call["id"])
            down = rep["downlink"]["markers"]
            assert len(down) >= 3
            assert [m["streamSeconds"] for m in down[:3]] == [0.5, 1.0, 1.5]
            assert all(m["freq"] == 1000.0 and m["kind"] == "tone" for m in down)
            assert all(m["sentMonotonic"] >= rep["connectedMonotonic"] for m in down)
            rx = peer.received()
            for k in (1, 2, 3):
                beep, before = rx[k * 8000 : k * 8000 + 960], rx[k * 8000 - 1600 : k * 8000]
                assert tone_power(beep, 1000, 16000) > 0.9 and np.max(np.abs(before)) <= 3
            up = rep["uplink"]["markers"]
            assert len(up) >= 2
            assert all(abs(m["freq"] - 1000) < 30 for m in up)
            for sent, heard in zip(down, up, strict=False):
                assert heard["arrivalMonotonic"] > sent["sentMonotonic"]
            assert not [e for e in peer.events if e["type"] == "speech-update"
                        and e["role"] == "assistant"]
            await peer.close()

    run(body())


def test_script_lines_wait_for_the_visitor(tmp_path: Path) -> None:
    script = tmp_path / "desk.yaml"
    script.write_text("- Welcome to the desk.\n"
                      "- tone: 600\n  ms: 300\n"
                      "- say: Goodbye now.\n  wait: false\n  endCall: true\n")

    async def body() -> None:
        async with simulator(assistant=f"script:{script}", speech="tones") as sim:
            call = await create_call(sim, {"assistantId": "echo", "transport": {
                "provider": "vapi.websocket"}})
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await peer.wait_event("transcript", role="assistant", transcriptType="final",
                                  transcript="Welcome to the desk.")
            await asyncio.sleep(0.5)
            assert len(peer.find("speech-update", role="assistant", status="started")) == 1
            peer.speak(voiced(0.5))
            await peer.wait_event("transcript", role="assistant", transcriptType="final",
                                  transcript="(tone 600 Hz)")
            ended = await peer.wait_event("status-update", status="ended", timeout=10)
            assert ended["endedReason"] == "assistant-ended-call"
            finals = [e["transcript"] for e in peer.find("transcript", role="assistant",
                                                          transcriptType="final")]
            assert finals == ["Welcome to the desk.", "(tone 600 Hz)", "Goodbye now."]
            rep = await sim_report(sim, call["id"])
            assert rep["assistant"] == "script:desk.yaml"
            await peer.close()

    run(body())


def test_replay_reproduces_the_recorded_timeline() -> None:
    recorded = json.loads(RECORDING.read_text())["events"]
    speed = 5.0

    async def body() -> None:
        async with simulator(assistant=f"replay:{RECORDING}", replay_speed=speed,
                             speech="tones") as sim:
            call = await create_call(sim)
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            last = recorded[-1]["at_s"] / speed
            await wait_until(lambda: len(peer.events) >= len(recorded), last + 3)
            await asyncio.sleep(0.2)
            assert [e for e in peer.events] == [r["event"] for r in recorded]
            for got, want in zip(peer.event_times, recorded, strict=True):
                assert abs(got - want["at_s"] / speed) < 0.35, (got, want)
            rx = peer.received()
            started = next(r["at_s"] for r in recorded if r["event"].get("role") == "assistant"
                           and r["event"].get("status") == "started") / speed
            stopped = next(r["at_s"] for r in recorded if r["event"].get("role") == "assistant"
                           and r["event"].get("status") == "stopped") / speed
            speaking = rx[int((started + 0.15) * 16000): int((stopped - 0.1) * 16000)]
            quiet = rx[int((stopped + 0.3) * 16000): int(last * 16000)]
            assert rms_dbfs(speaking) > -40 and rms_dbfs(quiet) < -60
            rep = await sim_report(sim, call["id"])
            assert rep["status"] == "in-progress"  # the recording has no 'ended'
            assert rep["assistant"] == f"replay:{RECORDING.name}"
            await peer.close()

    run(body())


def test_think_time_starts_the_reply_after_the_visitor_stopped(tmp_path: Path) -> None:
    """`think_ms`: the reply's first sample lies that long after `speech-update` user
    stopped, on the downlink stream's own clock (its sample positions since connecting)."""
    script = tmp_path / "tones.yaml"
    script.write_text("- tone: 600\n  ms: 300\n")
    think = 0.6

    async def body() -> None:
        async with simulator(assistant=f"script:{script}", think_ms=think * 1000,
                             downlink_chunking="frames") as sim:
            call = await create_call(sim)
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await asyncio.sleep(0.3)
            peer.speak(voiced(0.5))
            await peer.wait_event("transcript", role="assistant", transcriptType="final",
                                  transcript="(tone 600 Hz)", timeout=10)
            stops = [t for e, t in zip(peer.events, peer.event_times, strict=True)
                     if e.get("type") == "speech-update" and e.get("role") == "user"
                     and e.get("status") == "stopped"]
            assert len(stops) == 1
            rx = peer.received()
            onset = int(np.flatnonzero(np.abs(rx.astype(np.int32)) > 1000)[0]) / 16000
            assert abs(onset - stops[0] - think) < 0.03, (onset, stops[0])
            await peer.close()

    run(body())


def test_a_visitor_talking_during_a_chain_of_lines_keeps_the_script_s_order(
        tmp_path: Path) -> None:
    """A tool line after the greeting, then a spoken line, neither waiting: the tool call
    comes first, as docs/simulator.md says, though the visitor talks over the greeting.
    Their turn started a second chain, and the lines' order changed from run to run (the
    spoken line before the tool call in 3 runs of 5)."""
    script = tmp_path / "desk.yaml"
    script.write_text("- Welcome to the front desk, one moment while I open the door.\n"
                      "- tool: open_door\n  arguments: {door: main}\n  wait: false\n"
                      "- say: The door is open.\n  wait: false\n"
                      "- Anything else?\n")

    async def body() -> None:
        async with simulator(assistant=f"script:{script}", speech="tones") as sim:
            call = await create_call(sim, {"assistantId": "echo", "transport": {
                "provider": "vapi.websocket"}})
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await peer.wait_event("speech-update", role="assistant", status="started")
            peer.speak(voiced(0.6))  # the visitor, over the greeting
            await peer.wait_event("transcript", role="assistant", transcriptType="final",
                                  transcript="The door is open.", timeout=20)
            kinds = [e.get("type") if e.get("type") != "transcript" else e.get("transcript")
                     for e in peer.events if e.get("type") == "tool-calls"
                     or (e.get("type") == "transcript" and e.get("role") == "assistant"
                         and e.get("transcriptType") == "final")]
            assert kinds[:3] == ["Welcome to the front desk, one moment while I open the "
                                 "door.", "tool-calls", "The door is open."], kinds
            await peer.close()

    run(body())
