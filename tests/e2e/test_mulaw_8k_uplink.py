"""A µ-law 8 kHz wire from an 8 kHz microphone: no resampling on the uplink (the rates are
equal: no filter), so what Vapi hears is the microphone's samples, µ-law-coded, sample for
sample, in 160-byte frames (20 ms) from the first one.

The call in this process, its microphone a `file:` WAV at 8 kHz, the simulator over
loopback; its record of the call (frame sizes, the uplink decoded to a WAV) is the judge.
The cadence at the wire is test_call_path's (a real-time test in the serial lane)."""

from __future__ import annotations

import asyncio
import io
import wave
from pathlib import Path

import numpy as np
import pytest

from bridge.audio.codec import codec_for
from bridge.client import open_call
from tests.e2e.conftest import KEY, ProfileBuilder
from tests.rig.signals import write_wav

RATE = 8000


def test_an_8khz_microphone_reaches_a_mulaw_8khz_wire_sample_for_sample(
        start_sim, profiles: ProfileBuilder, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Regressions this catches: a filter (or a gain) on the equal-rate path (the
    resampler's passthrough lost: its FIR alone would change every sample), frames sized
    by another rate than the wire's, the µ-law coder misaligned or dropping a sample."""
    sim = start_sim(assistant="echo")
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    rng = np.random.default_rng(8)
    mic = (rng.standard_normal(RATE) * 4000).clip(-32768, 32767).astype(np.int16)  # 1 s
    write_wav(tmp_path / "mic.wav", mic, RATE)
    profile = profiles.write(sim.base_url, wire={"format": "mulaw", "sample_rate": RATE},
                             audio={"input": f"file:{tmp_path / 'mic.wav'}", "output": "null",
                                    "device_rate": RATE})

    async def scenario() -> None:
        async with open_call(str(profile)) as call:
            while call.call.uplink.stats.frames_sent < 60:  # 1.2 s: the WAV, then silence
                await asyncio.sleep(0.05)

    asyncio.run(scenario())
    record = sim.only_call()
    assert set(record["uplink"]["frameBytes"]) == {160}, "every frame is 20 ms of µ-law"
    with wave.open(io.BytesIO(sim.get_bytes(f"/_sim/calls/{record['id']}/uplink.wav"))) as w:
        assert w.getframerate() == RATE
        heard = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    codec = codec_for("mulaw")
    expected = codec.decode(codec.encode(mic))
    start = int(np.flatnonzero(heard)[0] - np.flatnonzero(expected)[0])
    print(f"\nthe microphone's first sample is sample {start} of the wire")
    assert 0 <= start < 160, "the microphone from the call's first frame"
    assert np.array_equal(heard[start:start + RATE], expected), \
        "what Vapi heard is the microphone, µ-law-coded, sample for sample"
