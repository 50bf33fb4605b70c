"""The s16le decoder keeps the assistant's audio in byte alignment. A reply cut after an odd
number of bytes, with the next starting on a sample boundary, read one byte off was loud
noise for the rest of the call (-22 dBFS over a -70 dBFS stream, heard through the rig);
now the stream is shifted back within a few chunks. Real audio in chunks of any
size is never shifted: speech, and noise as rough as audio gets."""

from __future__ import annotations

import wave
from importlib import resources

import numpy as np
import pytest

from bridge.audio.codec import ALIGN_EVERY, ALIGN_VOTES, PcmS16leCodec

RATE = 16000
CHUNK = 640  # 20 ms


def speech() -> np.ndarray:
    with wave.open(str(resources.files("bridge.assets") / "visitor.wav"), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy()


def noise(seconds: float, dbfs: float, seed: int, lowpass: bool = False) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(int(RATE * seconds))
    if lowpass:
        x = np.convolve(x, np.ones(4) / 2, mode="same")
    return np.clip(x * 10 ** (dbfs / 20) * 32767, -32768, 32767).astype(np.int16)


def decode(codec: PcmS16leCodec, wire: bytes, sizes: list[int]) -> np.ndarray:
    out, at = [], 0
    for size in sizes:
        out.append(codec.decode(wire[at:at + size]))
        at += size
    return np.concatenate(out)


def odd_sizes(total: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(int(rng.integers(1, 1000)))
    return sizes


@pytest.mark.parametrize("signal", ["speech", "white -3 dBFS", "white -40 dBFS", "band noise"])
def test_audio_in_chunks_of_any_size_is_never_shifted(signal: str) -> None:
    x = {"speech": speech, "white -3 dBFS": lambda: noise(4, -3, 1),
         "white -40 dBFS": lambda: noise(4, -40, 2),
         "band noise": lambda: noise(4, -12, 3, lowpass=True)}[signal]()
    wire = x.astype("<i2").tobytes()
    codec = PcmS16leCodec()
    assert np.array_equal(decode(codec, wire, odd_sizes(len(wire), 7)), x)
    assert codec.realigned == 0


@pytest.mark.parametrize("flushed", [True, False], ids=["barge-in", "no flush"])
@pytest.mark.parametrize("after", ["near silence", "speech"])
def test_a_reply_cut_mid_sample_is_realigned_within_a_few_chunks(after: str,
                                                                   flushed: bool) -> None:
    """After a flush every chunk is checked, and the first rough one is itself shifted: no
    sample is heard off but the split one (before, ALIGN_VOTES chunks were, and a quiet
    word start was not judged at all: full-scale noise for 2-5 ms on the rig, 3 runs in 4);
    with no flush one chunk in ALIGN_EVERY is checked: within ALIGN_VOTES of those (some 16
    chunks, 0.3 s)."""
    cut = speech()[:12345].astype("<i2").tobytes()[:-1]  # 24,689 bytes: half a sample left
    following = noise(3, -70, 4) if after == "near silence" else speech()
    codec = PcmS16leCodec()
    decode(codec, cut, [641] * (len(cut) // 641) + [len(cut) % 641])
    if flushed:
        codec.drop_split()  # as a barge-in does; what was queued is dropped
    wire = following.astype("<i2").tobytes()
    heard = decode(codec, wire, [CHUNK] * (len(wire) // CHUNK) + [len(wire) % CHUNK])
    assert codec.realigned == 1 and len(heard) == len(following)
    # samples: the split one; with no flush, the chunks before the shift, and one more
    late = 1 if flushed else ALIGN_EVERY * (ALIGN_VOTES + 1) * CHUNK // 2
    assert np.array_equal(heard[late:], following[late:]), "from then on, every sample as sent"


@pytest.mark.parametrize("seed", range(6))
def test_a_reply_that_opens_with_silence_after_a_barge_in_is_heard_without_noise(
        seed: int) -> None:
    """Vapi-sized chunks (170-743 bytes), a cut after an odd byte, the flush, then a reply
    that opens with 0.3 s of digital silence: its first word fell past the 160 samples a
    chunk was judged by, or after the window of closely checked chunks had been spent on
    the silence, and played a byte off (the rig: 1.5-13 ms of full-scale noise, 3 runs in
    7; offline, 70 of 203 cuts)."""
    rng = np.random.default_rng(seed)
    cut = speech()[:12345].astype("<i2").tobytes()[:-1]
    reply = np.concatenate([np.zeros(RATE * 3 // 10, np.int16), speech()])
    codec = PcmS16leCodec()
    decode(codec, cut, [641] * (len(cut) // 641) + [len(cut) % 641])
    codec.drop_split()
    wire = reply.astype("<i2").tobytes()
    sizes: list[int] = []
    while sum(sizes) < len(wire):
        sizes.append(int(rng.integers(170, 744)))
    heard = decode(codec, wire, sizes).astype(np.int32)
    off = np.abs(heard[:len(reply)] - reply[:len(heard)])
    # at most the first word's quietest samples read off (a few, under -36 dBFS): no noise
    loud = np.flatnonzero(off > 1000)
    assert len(loud) == 0 and codec.realigned == 1, (len(loud), loud[:5], int(off.max()))


def test_roughness_is_the_mean_absolute_difference_exactly() -> None:
    """The alignment check's figure (computed without a float mean, for CPU) is the plain
    formula's, bit for bit, at both byte offsets, full-scale swings included."""
    from bridge.audio.codec import _roughness

    rng = np.random.default_rng(16)
    chunks = [rng.integers(-32768, 32768, int(rng.integers(17, 2000)) * 2 + 1)
              .astype("<i2").tobytes() for _ in range(300)]
    chunks += [np.array([-32768, 32767] * 200, dtype="<i2").tobytes() + b"\x7f",
               speech()[:3200].tobytes()]
    for data in chunks:
        count = (len(data) - 1) >> 1
        for offset in (0, 1):
            x = np.frombuffer(data, dtype="<i2", count=count, offset=offset).astype(np.int64)
            assert _roughness(data, offset, count) == float(np.abs(np.diff(x)).mean())
