"""Sample-rate conversion with soxr streams.

The live path uses soxr's variable-rate engine (`vr=True`). The ordinary engine processes
its input in large blocks: fed 20 ms at a time it returns nothing for several calls and
then a burst, holding back 20–130 ms depending on the ratio (measured: 16k→8k MQ 118 ms,
8k→44.1k 126 ms, 48k→16k 38 ms). The vr engine holds back a steady 10–30 ms, with the
same alias rejection (−86 dB for a 10 kHz tone 48k→16k) and a flat passband. Its output is
time-aligned (a step fed at input time t comes out at output time t, ±0.25 ms), so what it
holds back is exactly the input not yet returned: `held_ms`. Measured, fed 20 ms at a
time or in random sizes: 16k→48k 15 ms, 48k→16k 12.5, 8k→44.1k 30, 44.1k→8k 30,
8k→48k 30, 48k→8k 27.5, 16k→8k 15, 24k→48k 10. soxr's own `delay()` reports only the
filter's 2.1–12.5 ms of it (1.2–14× less), so it is not used.
When both rates are equal there is no stream at all.
"""

from __future__ import annotations

import numpy as np
import soxr

DEFAULT_QUALITY = "MQ"


class Resampler:
    """Streaming int16 mono resampler."""

    def __init__(self, in_rate: int, out_rate: int, quality: str = DEFAULT_QUALITY) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.passthrough = in_rate == out_rate
        self._in = self._out = 0  # samples fed and returned since the last reset
        self._stream = (
            None if self.passthrough
            else soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=quality,
                                     vr=True)
        )

    def process(self, samples: np.ndarray) -> np.ndarray:
        if self._stream is None:
            return samples
        out = self._stream.resample_chunk(samples)
        self._in += len(samples)
        self._out += len(out)
        return out

    def reset(self) -> None:
        """Drop the history and what is held back (after a flush): nothing fed before comes
        out after."""
        if self._stream is not None:
            self._stream.clear()
        self._in = self._out = 0

    @property
    def held_ms(self) -> float:
        """How much of the input has not come out yet: the resampler's whole latency (its
        output is time-aligned with its input)."""
        return max(0.0, self._in / self.in_rate - self._out / self.out_rate) * 1000.0


def resample_all(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Resample a whole signal at once (for files, not the live path)."""
    if in_rate == out_rate:
        return samples
    return soxr.resample(samples, in_rate, out_rate, quality="HQ")
