"""PCM and µ-law codecs, including an s16le chunk split in the middle of a sample."""

from __future__ import annotations

import itertools

import numpy as np

from bridge.audio.codec import MulawCodec, PcmS16leCodec


def test_pcm_odd_byte_is_carried_to_the_next_chunk() -> None:
    samples = (np.arange(1000) * 37 - 18000).astype(np.int16)
    wire = PcmS16leCodec().encode(samples)
    dec = PcmS16leCodec()
    cuts = [0, 171, 172, 500, 1337, 1338, 2000]
    out = np.concatenate([dec.decode(wire[a:b]) for a, b in itertools.pairwise(cuts)])
    assert np.array_equal(out, samples)


def test_a_sample_split_across_a_barge_in_decodes_as_silence() -> None:
    """The cut reply's last sample, completed by the first byte after the flush, must not
    reach the speaker (one loud sample rings through the resampler as a click); the
    stream stays aligned, and an empty chunk in between changes nothing."""
    samples = np.full(100, 2579, dtype=np.int16)
    wire = PcmS16leCodec().encode(samples)
    dec = PcmS16leCodec()
    assert np.array_equal(dec.decode(wire[:41]), samples[:20])  # half of sample 20 held
    dec.drop_split()
    assert len(dec.decode(b"")) == 0
    after = dec.decode(wire[41:])
    assert after[0] == 0 and np.array_equal(after[1:], samples[21:])
    dec.drop_split()  # nothing split: nothing silenced
    assert np.array_equal(dec.decode(wire[:10]), samples[:5])


def test_mulaw_round_trip_is_close_and_one_byte_per_sample() -> None:
    t = np.arange(8000) / 8000
    tone = (np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16)
    codec = MulawCodec()
    wire = codec.encode(tone)
    assert len(wire) == len(tone)
    back = codec.decode(wire)
    err = np.abs(back.astype(int) - tone.astype(int))
    assert err.max() < 12000 * 0.05, "µ-law keeps each sample within its segment step"
    snr = 10 * np.log10(np.sum(tone.astype(float) ** 2) / np.sum(err.astype(float) ** 2))
    assert snr > 30
