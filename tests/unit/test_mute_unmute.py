"""`ctl mute-assistant` mid-reply, then `unmute-assistant`, with the reply sent ahead of
real time (3x) in chunks of any byte length, as Vapi's are.

The speaker goes quiet at the mute (what was queued is dropped); after the unmute only what
Vapi sent since plays, faded in (it resumes mid-word out of silence). What arrives while
muted was not decoded, so the s16le stream came back a byte off whenever an odd number of
bytes had come meanwhile: full-scale noise until the decoder's roughness check caught it —
which it cannot for a sound rough both ways (a fricative; the simulator's 2900 Hz script
tone): 0.36 s of noise on the simulator, the rest of the line here. Through the real
Downlink and BargeIn (the command's path) on a simulated clock, the speaker pulled every
20 ms."""

from __future__ import annotations

import numpy as np

from bridge.audio.codec import codec_for
from bridge.audio.files import ClockedSink
from bridge.call.bargein import BargeIn
from bridge.call.downlink import Downlink
from bridge.vapi import messages
from tests.e2e.test_stale_reply import tone_blocks

RATE = 16000  # the wire's and the speaker's
SPEED = 3.0
MUTE, UNMUTE, SECONDS = 1.0, 2.0, 3.0
BEFORE_HZ, AFTER_HZ = 2900, 2300  # the reply sent before the mute, and after the unmute


def _played(seed: int, quiet_s: float = 0.0) -> np.ndarray:
    """What the speaker played; `quiet_s`: Vapi's own silence while muted, and this long
    after the unmute (in flight as it was sent)."""
    t = np.arange(int(SECONDS * SPEED * RATE)) / RATE
    hz = np.where(t < MUTE * SPEED + 0.1, BEFORE_HZ, AFTER_HZ)
    quiet = quiet_s > 0 and (t >= MUTE * SPEED + 0.1) & (t < (UNMUTE + quiet_s) * SPEED)
    wire = (np.where(quiet, 0, 8000) * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()
    now, rng = [0.0], np.random.default_rng(seed)
    sink = ClockedSink(RATE)
    down = Downlink(codec_for("pcm_s16le"), RATE, sink, clock=lambda: now[0])
    bargein = BargeIn({}, down, sink)
    timeline = sorted([(0.05 * k, 0) for k in range(1, int(SECONDS / 0.05))]
                      + [(0.007 + 0.02 * k, 1) for k in range(int(SECONDS / 0.02) - 1)]
                      + [(MUTE, 2), (UNMUTE, 3)])
    block, played, sent = np.empty(RATE // 50, np.int16), [], 0
    for at, kind in timeline:
        now[0] = at
        if kind == 0:  # a chunk: what is due at 3x, an odd byte or not
            due = min(len(wire), int(at * SPEED * RATE) * 2 + int(rng.integers(0, 2)))
            down.on_audio(wire[sent:due])
            sent = due
        elif kind == 1:
            sink.buffer.read_into(block)
            played.append(block.copy())
        else:
            bargein.after_command(messages.control(
                "mute-assistant" if kind == 2 else "unmute-assistant"), "test")
    return np.concatenate(played).astype(np.int32)


def test_after_an_unmute_the_assistant_is_heard_clean_and_faded_in() -> None:
    for seed in range(4):  # the bytes come odd in some
        played = _played(seed)
        muted, unmuted = played[int(MUTE * RATE) + 640:int(UNMUTE * RATE)], \
            played[int(UNMUTE * RATE):]
        assert not np.any(muted), "the speaker went quiet at the mute"
        steps = np.abs(np.diff(unmuted))
        noisy = np.sum(steps > 16000) * 1000 / RATE  # the tones step 8000 · 2 sin(π f / RATE)
        assert noisy == 0, f"{noisy:.0f} ms of noise after the unmute (seed {seed})"
        assert tone_blocks(unmuted, AFTER_HZ).sum() >= 80, "the assistant heard again"
        assert not tone_blocks(unmuted, BEFORE_HZ).any(), "what was queued before the mute"
        first = np.flatnonzero(unmuted)[0]
        assert np.abs(unmuted[first:first + 8]).max() < 3000, "it fades in, no click"


def test_after_an_unmute_vapis_silence_in_flight_first_the_sound_still_fades_in() -> None:
    """Vapi sends silence while it mutes the assistant, and some is still in flight as the
    unmute goes out: the fade waited for none of it, and the sound came back with a click."""
    unmuted = _played(0, quiet_s=0.1)[int(UNMUTE * RATE):]
    first = np.flatnonzero(unmuted)[0]
    assert first >= 0.05 * RATE, "the silence in flight played first"
    assert np.abs(unmuted[first:first + 8]).max() < 3000, "it fades in, no click"
