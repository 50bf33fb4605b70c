"""The sounds mixer over the playout buffer: what the speaker plays is the assistant plus
the sound; the played rings (recording, heard gap) hold the assistant alone; the echo
reference holds both; a stop fades without a click; nothing is allocated per block."""

from __future__ import annotations

import tracemalloc

import numpy as np

from bridge.audio.playout import PlayoutBuffer
from bridge.audio.sounds import FADE_MS, SoundMixer, load_clip
from bridge.profile.sounds import bundled

RATE = 48000
BLOCK = 960  # 20 ms


def tone(seconds: float, freq: float = 1000.0, amp: float = 8000.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def pull(buffer: PlayoutBuffer, blocks: int) -> np.ndarray:
    out = np.zeros(blocks * BLOCK, dtype=np.int16)
    for i in range(blocks):
        buffer.read_into(out[i * BLOCK:(i + 1) * BLOCK])
    return out


def test_a_sound_is_heard_and_echo_referenced_but_not_in_the_played_rings() -> None:
    buffer = PlayoutBuffer(RATE)
    mixer = SoundMixer(RATE)
    buffer.overlay = mixer
    reference = buffer.enable_reference(2.0)
    played = buffer.add_played_ring(2.0)
    clip = tone(0.2)
    mixer.play(clip)
    heard = np.zeros(30 * BLOCK, dtype=np.int16)
    heard[:5 * BLOCK] = pull(buffer, 5)  # the sound alone for 100 ms
    voice = np.full(RATE // 2, 3000, dtype=np.int16)  # then the assistant: 0.5 s of DC
    buffer.write(voice)
    heard[5 * BLOCK:] = pull(buffer, 25)
    start = 5 * BLOCK
    expected = np.zeros(len(heard))
    expected[:len(clip)] += clip
    expected[start:start + len(voice)] += 3000
    assert np.abs(heard - expected).max() <= 1.0
    assert np.array_equal(reference.take(), heard.astype(np.int16))
    assistant_only = played.take()
    assert np.abs(assistant_only[:start]).max() == 0
    assert np.all(assistant_only[start:start + len(voice)] == 3000)
    assert not mixer.busy


def test_a_looped_tone_repeats_after_the_chime_and_stops_with_a_fade() -> None:
    mixer = SoundMixer(RATE)
    chime = tone(0.1, 2000.0)
    period = tone(0.05, 500.0)
    mixer.play(chime)
    loop = mixer.play(period, loop=True, after=mixer.remaining_samples())
    out = np.zeros(RATE // 2, dtype=np.int16)
    for i in range(0, len(out), BLOCK):
        mixer.mix_into(out[i:i + BLOCK])
    n = len(chime)
    assert np.abs(out[:n].astype(np.float32) - chime).max() <= 1.0, "the chime, alone"
    looped = np.tile(period, 8)[: len(out) - n]
    assert np.abs(out[n:].astype(np.float32) - looped).max() <= 1.0, "then the tone, looped"
    mixer.stop(loop)
    tail = np.zeros(4 * BLOCK, dtype=np.int16)
    for i in range(0, len(tail), BLOCK):
        mixer.mix_into(tail[i:i + BLOCK])
    fade = int(FADE_MS * RATE / 1000)
    assert np.abs(tail[fade:]).max() == 0, "silent once the fade is over"
    assert np.abs(tail[:fade]).max() > 1000, "it fades, not cuts"
    steps = np.abs(np.diff(tail.astype(np.int32)))
    natural = 2 * np.pi * 500 / RATE * 8000
    assert steps.max() <= natural * 1.1, "no click: no step larger than the tone's own"
    assert not mixer.busy


def test_a_sound_stopped_before_it_starts_never_plays_and_mixing_saturates() -> None:
    mixer = SoundMixer(RATE)
    mixer.stop(mixer.play(tone(0.1), after=RATE))
    loud = mixer.play(np.full(BLOCK, 20000.0, dtype=np.float32))
    out = np.full(BLOCK, 20000, dtype=np.int16)
    mixer.mix_into(out)
    assert np.all(out == 32767)
    assert loud.done and not mixer.busy


def test_mixing_allocates_nothing_per_block() -> None:
    buffer = PlayoutBuffer(RATE)
    mixer = SoundMixer(RATE)
    buffer.overlay = mixer
    buffer.enable_reference()
    mixer.play(load_clip(bundled("offline"), RATE))
    mixer.play(load_clip(bundled("connecting"), RATE), loop=True)
    block = np.zeros(RATE // 10, dtype=np.int16)  # 100 ms blocks: a buffer is 19 kB
    for _ in range(5):
        buffer.read_into(block)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(100):
            buffer.read_into(block)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert mixer.busy
    assert peak < 4000, f"{peak} bytes at peak: a block's buffer would be {len(block) * 4}"


def test_a_clip_is_resampled_to_the_device_rate_and_scaled() -> None:
    at16 = load_clip(bundled("triggered"), 16000)
    at48 = load_clip(bundled("triggered"), 48000, gain=0.5)
    assert abs(len(at48) - 3 * len(at16)) <= 3
    assert abs(np.abs(at48).max() / np.abs(at16).max() - 0.5) < 0.05
    assert at48[0] == 0 and at48[-1] == 0


def test_a_sound_after_a_stopped_tone_starts_once_its_fade_is_over() -> None:
    mixer = SoundMixer(RATE)
    loop = mixer.play(tone(0.8, 440.0), loop=True)
    out = np.zeros(BLOCK, dtype=np.int16)
    mixer.mix_into(out)
    mixer.stop(loop)
    fade = int(FADE_MS * RATE / 1000)
    assert mixer.remaining_samples() == 2 * fade, "a block to notice the stop, then the fade"
    line = np.full(BLOCK, 5000.0, dtype=np.float32)
    mixer.play(line, after=mixer.remaining_samples())
    out = np.zeros(6 * BLOCK, dtype=np.int16)
    for i in range(0, len(out), BLOCK):
        mixer.mix_into(out[i:i + BLOCK])
    starts = int(np.flatnonzero(out == 5000)[0])
    assert starts == 2 * fade, "the line begins after the fade, not over the tone"
    assert np.count_nonzero(out == 5000) == BLOCK, "and plays whole"
