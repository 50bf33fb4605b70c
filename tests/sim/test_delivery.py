"""Faster-than-real-time delivery (``downlink_speed``): a TTS engine produces speech faster
than real time and nothing in Vapi's docs says the stream is paced, so the simulator can
send each reply at a factor of real time, or whole at once, and keeps that lead over the
near-silence that follows. Measured on the peer's own arrival clock against the stream's
sample clock."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.sim.conftest import Peer, create_call, run, simulator, ws_body

LINE = "Welcome to the front desk. Please tell me who you are here to see today."


def lead_at_speech_end(peer: Peer, rate: int) -> tuple[float, float]:
    """(speech seconds, how far the stream was ahead of real time when its last loud sample
    arrived)."""
    pcm = peer.received()
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) >= 330)
    assert len(loud), "the first message was received"
    last = int(loud[-1])
    bps = 2  # s16le
    ends = np.cumsum([n for _, n in peer.chunks]) // bps
    k = int(np.searchsorted(ends, last, side="right"))
    arrived = peer.chunks[k][0] - peer.connected
    return (last - int(loud[0])) / rate, last / rate - arrived


async def hear_first_message(speed: float, after_s: float) -> Peer:
    """A call whose first message is LINE: everything received until `after_s` after the
    assistant's speech-update stopped."""
    async with simulator(downlink_speed=speed) as sim:
        call = await create_call(sim, ws_body(firstMessage=LINE))
        peer = await Peer.open(call["transport"]["websocketCallUrl"])
        await peer.wait_event("speech-update", role="assistant", status="stopped", timeout=20)
        await asyncio.sleep(after_s)
        await peer.close()
    return peer


@pytest.mark.parametrize("speed", [1.0, 3.0, float("inf")], ids=["real-time", "3x", "whole"])
def test_speech_arrives_ahead_of_real_time(speed: float) -> None:
    peer = run(hear_first_message(speed, 0.5))
    speech_s, lead = lead_at_speech_end(peer, 16000)
    expected = speech_s * (1 - 1 / speed)  # 0, 2/3 and all of it
    print(f"\nspeed {speed}: {speech_s:.2f} s of speech, {lead:.2f} s ahead at its end")
    assert speech_s > 2.0
    if speed == 1.0:
        assert lead < 0.25, "real time is not ahead"
    else:
        assert lead >= 0.75 * expected, "the reply came faster than real time"


def test_the_lead_is_kept_over_the_silence_after_a_reply() -> None:
    peer = run(hear_first_message(float("inf"), 1.0))
    speech_s, _ = lead_at_speech_end(peer, 16000)
    last_t, _ = peer.chunks[-1]
    stream_s = len(peer.audio) / 2 / 16000
    assert stream_s - (last_t - peer.connected) >= 0.75 * speech_s


def test_a_speed_below_one_is_refused() -> None:
    from bridge.sim import SimConfig
    from bridge.sim.config import parse_speed

    with pytest.raises(ValueError, match="at least 1"):
        SimConfig(downlink_speed=0.5)
    assert parse_speed("whole") == float("inf") and parse_speed("1.3") == 1.3
    with pytest.raises(ValueError, match="'whole'"):
        parse_speed("fast")
