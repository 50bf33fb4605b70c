"""The simulator's own wire codec: raw s16le and G.711 µ-law, with odd-byte carry.

Deliberately independent of the client side's codec: the simulator shares no code with
the client (docs/simulator.md).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

FORMATS = ("pcm_s16le", "mulaw")
DEFAULT_RATES = {"pcm_s16le": 16000, "mulaw": 8000}


@dataclass(frozen=True)
class WireFormat:
    """One call's negotiated audio format."""

    encoding: str  # "pcm_s16le" | "mulaw"
    rate: int

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.encoding == "pcm_s16le" else 1

    @property
    def byte_rate(self) -> int:
        return self.rate * self.bytes_per_sample

    @property
    def frame_samples(self) -> int:
        """Samples in one 20 ms frame."""
        return max(1, self.rate // 50)

    @property
    def frame_bytes(self) -> int:
        return self.frame_samples * self.bytes_per_sample


def encode(samples: np.ndarray, fmt: WireFormat) -> bytes:
    """Mono int16 samples → wire bytes."""
    pcm = np.asarray(samples, dtype="<i2").tobytes()
    if fmt.encoding == "mulaw":
        return audioop.lin2ulaw(pcm, 2)
    return pcm


def decode(data: bytes, fmt: WireFormat) -> np.ndarray:
    """Whole wire bytes → mono int16 samples (s16le must have an even length)."""
    if fmt.encoding == "mulaw":
        return np.frombuffer(audioop.ulaw2lin(data, 2), dtype="<i2").astype(np.int16)
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


class StreamDecoder:
    """Decodes a byte stream cut anywhere, carrying a dangling s16le byte to the next call."""

    def __init__(self, fmt: WireFormat) -> None:
        self.fmt = fmt
        self._carry = b""

    def feed(self, data: bytes) -> np.ndarray:
        if self.fmt.encoding == "mulaw":
            return decode(data, self.fmt)
        buf = self._carry + data
        whole = len(buf) - (len(buf) % 2)
        self._carry = buf[whole:]
        return decode(buf[:whole], self.fmt)

    @property
    def pending(self) -> int:
        return len(self._carry)
