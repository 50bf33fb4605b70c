"""Wire formats: PCM s16le and G.711 µ-law, one codec each.

A codec turns int16 mono samples into wire bytes and back. Decoders are stateful: the
downlink arrives in chunks that are not sample-aligned, so an odd byte of s16le is carried
to the next chunk.

The s16le decoder also keeps the stream in byte alignment. If the server cuts a reply after
an odd number of bytes and starts the next on a sample boundary (nothing says it cannot),
every sample after it would be read one byte off: loud noise for the rest of the call.
Audio read one byte off is rough (its high byte is the signal's low byte: noise near full
scale) where the same bytes read the other way are smooth, so a chunk's first
`ALIGN_SAMPLES` are measured both ways (mean absolute difference of neighbours) and after
`ALIGN_VOTES` checks in a row where the other reading is `ALIGN_RATIO` times smoother (and
this one is rough at all) the stream is shifted a byte — after one check where a cut is
likely (below), so the chunk found rough is itself shifted and no noise is played. Real
audio read the right way is never that much rougher than its shifted reading, which is
noise whatever the signal.
A check costs some 16 µs, so it runs on every chunk only where a cut is likely, the first
`ALIGN_CLOSELY` chunks of the stream and after each flush (a barge-in), and on every
`ALIGN_EVERY`th chunk otherwise (a reply cut with no flush: realigned within about 0.5 s).
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
    realigned: int  # times the stream was found a byte off and shifted (s16le only)

    def encode(self, samples: np.ndarray) -> bytes: ...

    def decode(self, data: bytes) -> np.ndarray: ...

    def drop_split(self) -> None:
        """The audio decoded so far was dropped: a sample split across it and the next
        chunk decodes as silence (the byte alignment is kept)."""
        ...


ALIGN_SAMPLES = 160  # of a chunk, read both ways
ALIGN_RATIO = 8.0
ALIGN_VOTES = 2
ALIGN_CLOSELY = 12  # chunks checked one by one at the stream's start and after a flush
ALIGN_EVERY = 8  # otherwise, one chunk in this many
ALIGN_ROUGH = 256.0  # mean |difference| under which a reading is not judged (near silence)


def _roughness(data: bytes, offset: int, count: int) -> float:
    """The mean |difference| of consecutive samples (`count` from byte `offset`): the
    differences in int32 straight from the int16 view, summed exactly (no float mean's
    wrapper, no int32 copy of the samples; the same figure, in ~60 % of the time)."""
    x = np.frombuffer(data, dtype="<i2", count=count, offset=offset)
    d = np.subtract(x[1:], x[:-1], dtype=np.int32)
    np.absolute(d, out=d)
    return int(d.sum()) / (count - 1)


class PcmS16leCodec:
    name = "pcm_s16le"
    bytes_per_sample = 2

    def __init__(self) -> None:
        self._carry = b""
        self._silence_split = False
        self._votes = 0
        self._closely = ALIGN_CLOSELY  # chunks still to check one by one
        self._chunk = 0
        self.realigned = 0  # times the stream was found a byte off and shifted

    def encode(self, samples: np.ndarray) -> bytes:
        return samples.astype("<i2", copy=False).tobytes()

    def decode(self, data: bytes) -> np.ndarray:
        if self._carry:
            if not data:
                return np.zeros(0, dtype=np.int16)
            # the split sample: the carried byte and this chunk's first, or silence
            data = b"\0\0" + data[1:] if self._silence_split else self._carry + data
            self._carry, self._silence_split = b"", False
        if self._off_by_a_byte(data):
            data = data[1:]
        whole = len(data) >> 1
        if len(data) & 1:
            self._carry = data[-1:]
        samples = np.frombuffer(data, dtype="<i2", count=whole)
        return samples if _LITTLE else samples.astype(np.int16)

    def drop_split(self) -> None:
        self._silence_split = bool(self._carry)
        self._closely = ALIGN_CLOSELY  # a flush: where a reply was cut

    def _off_by_a_byte(self, data: bytes) -> bool:
        """This chunk's vote, if it is checked (see the module doc); True when the stream
        is to be shifted."""
        self._chunk += 1
        closely = self._closely > 0
        if not closely and self._chunk % ALIGN_EVERY:
            return False
        # where a cut is likely, the whole chunk (a reply opening with silence has its first
        # word past the first ALIGN_SAMPLES); else its start
        count = (len(data) - 1) >> 1 if closely else min(ALIGN_SAMPLES, (len(data) - 1) >> 1)
        if count < 16:
            return False  # too little to judge: the vote stands, the window too
        here, shifted = _roughness(data, 0, count), _roughness(data, 1, count)
        rough = ALIGN_ROUGH / 4 if closely else ALIGN_ROUGH  # a quiet word start, read off
        if closely and max(here, shifted) > rough:  # judged: one of the window's checks (a
            self._closely -= 1  # silence before the next word leaves the window open)
        self._votes = self._votes + 1 if here > rough and here > ALIGN_RATIO * shifted else 0
        if self._votes < (1 if closely else ALIGN_VOTES):  # where a cut is likely, the
            return False  # first rough chunk is shifted: no noise is heard (one vote: 2-5 ms)
        self._votes = 0
        self.realigned += 1
        return True


class MulawCodec:
    name = "mulaw"
    bytes_per_sample = 1
    realigned = 0  # one byte a sample: never off

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
