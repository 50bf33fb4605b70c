"""Wire formats: PCM s16le and G.711 µ-law, one codec each.

A codec turns int16 mono samples into wire bytes and back. Decoders are stateful: the
downlink arrives in chunks that are not sample-aligned, so an odd byte of s16le is carried
to the next chunk.
"""

from __future__ import annotations

import sys
import warnings
from typing import Protocol

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # stdlib up to 3.12; the audioop-lts package from 3.13

_LITTLE = sys.byteorder == "little"


class Codec(Protocol):
    name: str
    bytes_per_sample: int

    def encode(self, samples: np.ndarray) -> bytes: ...

    def decode(self, data: bytes) -> np.ndarray: ...

    def drop_split(self) -> None:
        """The audio decoded so far was dropped: a sample split across it and the next
        chunk decodes as silence (the byte alignment is kept)."""
        ...


class PcmS16leCodec:
    name = "pcm_s16le"
    bytes_per_sample = 2

    def __init__(self) -> None:
        self._carry = b""
        self._silence_split = False

    def encode(self, samples: np.ndarray) -> bytes:
        return samples.astype("<i2", copy=False).tobytes()

    def decode(self, data: bytes) -> np.ndarray:
        if self._carry:
            if not data:
                return np.zeros(0, dtype=np.int16)
            # the split sample: the carried byte and this chunk's first, or silence
            data = b"\0\0" + data[1:] if self._silence_split else self._carry + data
            self._carry, self._silence_split = b"", False
        whole = len(data) >> 1
        if len(data) & 1:
            self._carry = data[-1:]
        samples = np.frombuffer(data, dtype="<i2", count=whole)
        return samples if _LITTLE else samples.astype(np.int16)

    def drop_split(self) -> None:
        self._silence_split = bool(self._carry)


class MulawCodec:
    name = "mulaw"
    bytes_per_sample = 1

    def encode(self, samples: np.ndarray) -> bytes:
        pcm = samples.astype(np.int16, copy=False).tobytes()
        if not _LITTLE:
            pcm = audioop.byteswap(pcm, 2)
        return audioop.lin2ulaw(pcm, 2)

    def decode(self, data: bytes) -> np.ndarray:
        return np.frombuffer(audioop.ulaw2lin(data, 2), dtype=np.int16)

    def drop_split(self) -> None:
        return None


def codec_for(wire_format: str) -> Codec:
    if wire_format == "pcm_s16le":
        return PcmS16leCodec()
    if wire_format == "mulaw":
        return MulawCodec()
    raise ValueError(f"unknown wire format {wire_format!r}")
