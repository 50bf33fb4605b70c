"""A kiosk on an amplified speaker turns Vapi's audio down (`audio.output_gain_db`, down to
-40 dB): the downlink applies the gain before the playout buffer, which tells speech from
Vapi's near-silence (only near-silence is ever skipped, and the wake word listens again
once only near-silence is queued). It tells them as Vapi sent them: a reply turned down
36 dB peaks under -40 dBFS, and was all taken for near-silence (8.65 s of an 8.85 s reply
sent ahead of real time skipped; the kiosk's own goodbye heard by the wake word)."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.audio.codec import codec_for
from bridge.audio.files import ClockedSink
from bridge.call.downlink import Downlink

RATE = 16000
BLOCK = 320  # 20 ms


def syllables(seconds: float) -> np.ndarray:
    """Noise in 120-250 ms syllables with 40-120 ms pauses, -6 dBFS peak: Vapi's speech."""
    rng = np.random.default_rng(5)
    parts: list[np.ndarray] = []
    while sum(map(len, parts)) < seconds * RATE:
        n = int(rng.uniform(0.12, 0.25) * RATE)
        parts += [rng.normal(0, 4000, n) * np.hanning(n), np.zeros(int(rng.uniform(0.04, 0.12)
                                                                        * RATE))]
    x = np.concatenate(parts)
    return (x * (16000 / np.abs(x).max())).astype(np.int16)


@pytest.mark.parametrize("gain_db", [0.0, -30.0, -36.0])
def test_a_reply_turned_down_plays_whole_and_is_speech_till_its_end(gain_db: float) -> None:
    gain = 10 ** (gain_db / 20)
    reply = syllables(6.0)
    sink = ClockedSink(RATE)  # pulled here, block by block
    Downlink(codec_for("pcm_s16le"), RATE, sink, gain=gain).on_audio(reply.tobytes())
    sink.end_stream()
    last_loud = int(np.flatnonzero(np.abs(reply.astype(np.int32)) >= 330)[-1])  # as sent
    out, played = np.zeros(BLOCK, np.int16), []
    while sink.buffer.depth_ms > 0:
        if sink.buffer.played_samples <= last_loud:
            assert sink.buffer.speech_queued, "speech left to play, taken for near-silence"
        sink.buffer.read_into(out)
        played.append(out.astype(np.float64))
    energy = np.sum(np.square(np.concatenate(played)))
    assert sink.playout_stats().silence_dropped_ms < 200  # the last syllable's pause at most
    assert energy == pytest.approx(np.sum(np.square(reply * gain)), rel=0.02)
