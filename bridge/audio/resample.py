"""Sample-rate conversion for the live path and for files.

The live path was chosen by measurement (`benchmarks/resample.py`: a known signal fed
20 ms at a time through each candidate, one call per block, no flush, its delay found by
correlation against the ideal resampled signal). It is a linear-phase polyphase FIR (a
Kaiser-window lowpass whose stopband starts at the lower rate's Nyquist frequency, 90 dB
deep; designed in `fir_design.py` with numpy alone): every call returns exactly
in × out/in samples (integer ratios: 48 k ↔ 16 k, 48 k ↔ 8 k, 16 k ↔ 8 k, …), delayed by
half the filter (3.6 ms for a 16 kHz wire, 7.1 ms for 8 kHz), with the −3 dB edge at
0.94 × Nyquist and aliases from Nyquist on rejected by ≥ 88 dB. Linear phase keeps the
waveform: what the speaker plays is what Vapi sent, sample for sample, which the rig's
tests of what the speaker played (correlations against the sent audio) hold it to.
The uplink uses the minimum-phase version of the same filter (`minimum_phase=True`): it
delays speech by only 0.2–0.4 ms. That is what decides whether a sound captured near the
end of a device block leaves with that block's frame or waits a whole block for the next
capture (with 20 ms blocks, the last 3.6 or 7.1 ms of every block would wait 20 ms: the
p95 of mic → wire). It shifts the top of the band by up to 1.7 ms against the bottom:
nothing a speech recogniser uses, and at or under the ear's threshold for group delay that
high up, but a waveform comparison sees it: a spoken sentence through 48 → 16 → 48 kHz
correlates 0.989 with the original (linear phase both ways: 0.998), through 8 kHz 0.926
(0.991).
A 44.1 kHz device (no integer ratio to the wire) goes through 48 kHz (`TwoStageFIR`): the
same FIR between 48 kHz and the wire, and a short one between 48 and 44.1 kHz, for the same
band, delay and rejection (plus 0.11 ms) and 17–28 µs per 20 ms, where soxr's variable-rate
engine took 14–15 ms and 25–52 µs. Another ratio with no such route is one polyphase FIR at
the common rate (a rational U/D: 88.2 k ↔ 48 k), which returns its outputs a period (1/gcd
s) at a time; where that period is longer than 10 ms (11.025 k ↔ 16 k: 40 ms) or the
matrix would pass `MAX_MATRIX`, soxr's variable-rate engine.
soxr's ordinary engine works in large blocks and returns bursts (20–175 ms held back at
these ratios, 31–159 ms with its minimum-phase recipe); its variable-rate engine holds back
12.6–27.8 ms and lets a tone 50 Hz above the new Nyquist through at −33 dB (48 k → 16 k);
libsamplerate's sinc converters hold back 1.2–18 ms with a −3 dB edge at 0.80–0.96 ×
Nyquist, for 6–40× this FIR's CPU. The FIR costs 9–14 µs per 20 ms block here, a quarter
to half of soxr's variable-rate engine, about twice soxr's ordinary engine. When both rates
are equal there is no filter.

The streaming filter itself is one single-precision matrix product per block (numpy's
BLAS), a handful of numpy calls whatever the block: one `numpy.convolve` per polyphase
branch cost 3× as much (numpy's per-call overhead more than the arithmetic), and scipy's
`upfirdn` has no state to carry between blocks and is slower still.
"""

from __future__ import annotations

import math

import numpy as np
import soxr

from bridge.audio.polyphase import PolyphaseFIR, TwoStageFIR, fir_fits, is_integer_ratio, two_stage

DEFAULT_QUALITY = "MQ"  # soxr's, for a ratio with no FIR


class Resampler:
    """Streaming int16 mono resampler; `reset()` drops its history (after a flush).
    `minimum_phase`: the integer ratios' FIR in its minimum-phase form (0.2–0.4 ms instead
    of 3.6–7.1 ms; the waveform's phase is not kept), for the uplink; other ratios keep
    the linear-phase form."""

    def __init__(self, in_rate: int, out_rate: int, quality: str = DEFAULT_QUALITY, *,
                 minimum_phase: bool = False) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.passthrough = in_rate == out_rate
        self._in = self._out = 0  # samples fed and returned since the last reset
        self._given = 0  # outputs a flush gave ahead of the stream (`flush`)
        self._latency_ms = 0.0  # what the filter delays the signal by, beyond held samples
        self._stream: soxr.ResampleStream | PolyphaseFIR | TwoStageFIR | None = None
        if self.passthrough:
            pass
        elif two_stage(in_rate, out_rate):
            self._stream = TwoStageFIR(in_rate, out_rate, minimum_phase=minimum_phase)
            self._latency_ms = self._stream.group_delay_ms
        elif fir_fits(in_rate, out_rate):
            self._stream = PolyphaseFIR(in_rate, out_rate, minimum_phase=minimum_phase
                                        and is_integer_ratio(in_rate, out_rate))
            self._latency_ms = self._stream.group_delay_ms
        else:
            self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16",
                                               quality=quality, vr=True)

    def process(self, samples: np.ndarray) -> np.ndarray:
        if self._stream is None:
            return samples
        out = self._stream.resample_chunk(samples)
        self._in += len(samples)
        self._out += len(out)
        if self._given:  # a flush gave these already
            k = min(self._given, len(out))
            out, self._given = out[k:], self._given - k
        return out

    def flush(self) -> np.ndarray:
        """What the filter still holds, pushed out with silence: the stream's last
        milliseconds (a goodbye's), which would otherwise never come out. The FIRs' stream
        is left as it was: audio that still comes (a goodbye behind Vapi's `ended`) goes on
        where it stood, less the outputs given here (the silence fed into it put a 3.7 ms
        gap into the speech at 48 kHz). soxr's takes the silence in (no state to keep)."""
        stream = self._stream
        if stream is None:
            return np.zeros(0, dtype=np.int16)
        if isinstance(stream, soxr.ResampleStream):
            return self.process(np.zeros(math.ceil(self.held_ms * self.in_rate / 1000) + 1,
                                         dtype=np.int16))
        silence = np.zeros(math.ceil(self.held_ms * self.in_rate / 1000) + self.in_rate // 100,
                           dtype=np.int16)  # and a rational ratio's period (≤ 10 ms)
        owed = round(self.held_ms * self.out_rate / 1000)  # what the input so far makes
        state = stream.state()
        tail = stream.resample_chunk(silence)[self._given:owed]
        stream.restore(state)  # as it was: what comes next goes on from here
        self._given = max(self._given, owed)
        return tail

    def reset(self) -> None:
        if self._stream is not None:
            self._stream.clear()
        self._in = self._out = self._given = 0

    @property
    def filter_ms(self) -> float:
        """The filter's own delay at speech frequencies (the FIR's group delay; 0 for soxr,
        which only holds samples back)."""
        return self._latency_ms

    @property
    def held_ms(self) -> float:
        """How far the output lags the input: the input not come out yet (soxr's engine
        works in blocks, so this varies from call to call), plus the filter's own group
        delay at speech frequencies (the FIR returns every sample at once, delayed by it)."""
        if self.passthrough:
            return 0.0
        held = max(0.0, self._in / self.in_rate - self._out / self.out_rate) * 1000.0
        return held + self._latency_ms


def resample_all(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Resample a whole signal at once (for files, not the live path)."""
    if in_rate == out_rate:
        return samples
    return soxr.resample(samples, in_rate, out_rate, quality="HQ")
