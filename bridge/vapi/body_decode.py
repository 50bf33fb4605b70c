"""An answer's body decoded as its `Content-Encoding` says, never past a cap.

httpx decodes each network read whole (a 64 KiB read of gzip can expand to some 64 MiB)
before a reader can count it. Here zlib is asked for no more than the room left under the
cap (`max_length`), so a compressed body is cut at the cap, not one read past it. The
bridge asks for what it decodes (`ACCEPT_ENCODING`); a body in another encoding (br, zstd,
two stacked) is not decodable rather than read.
"""

from __future__ import annotations

import zlib

ACCEPT_ENCODING = "gzip, deflate"  # sent with every request (httpx would add br, zstd)

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
          "deflate": zlib.MAX_WBITS}


class Undecodable(Exception):
    """The body is not what its Content-Encoding says, or in one not asked for."""


class BodyDecoder:
    """Raw body bytes in, decoded bytes out, at most `room` of them at a time."""

    def __init__(self, content_encoding: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in _WBITS):
            raise Undecodable(content_encoding[:40])
        self._wbits = _WBITS[codings[0]] if codings else None
        self._inflate = zlib.decompressobj(self._wbits) if self._wbits else None
        self._started = False

    def feed(self, data: bytes, room: int) -> bytes:
        """What `data` decodes to, at most `room` bytes. When it would be more, the rest
        is dropped: the caller has reached its cap and stops reading."""
        if self._inflate is None:
            return data[:room]
        try:
            out = self._inflate.decompress(data, room)
        except zlib.error as exc:
            if self._started or self._wbits != zlib.MAX_WBITS:
                raise Undecodable(str(exc)) from None
            # "deflate" as many servers send it: raw, without zlib's header (as httpx takes it)
            self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            self._wbits = -zlib.MAX_WBITS
            return self.feed(data, room)
        self._started = True
        return out
