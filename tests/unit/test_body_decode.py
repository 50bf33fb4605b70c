"""An answer's body decoded as its Content-Encoding says, never past the room it is given:
gzip, x-gzip, deflate with zlib's header or raw (as servers send it), identity; any other
encoding, two stacked, or bytes that are not what the header says are refused."""

from __future__ import annotations

import zlib

import pytest

from bridge.vapi.body_decode import BodyDecoder, Undecodable

TEXT = b'{"id": "call"}' * 1000


def packed(wbits: int, data: bytes = TEXT) -> bytes:
    packer = zlib.compressobj(wbits=wbits)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(("encoding", "body"), [
    ("", TEXT), ("identity", TEXT), ("gzip", packed(31)), ("X-GZIP", packed(31)),
    ("deflate", packed(15)), ("deflate", packed(-15)), ("identity, gzip", packed(31)),
])
def test_each_encoding_decodes_whole_in_any_reads(encoding: str, body: bytes) -> None:
    decoder = BodyDecoder(encoding)
    out = b"".join(decoder.feed(body[i:i + 7], 10**9) for i in range(0, len(body), 7))
    assert out == TEXT


def test_no_more_than_the_room_is_decoded() -> None:
    bomb = packed(31, bytes(64 * 2**20))  # 64 MiB of zeros in about 64 KiB
    decoder = BodyDecoder("gzip")
    assert len(decoder.feed(bomb, 1000)) == 1000


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, deflate", "compress", "gzip, br"])
def test_an_encoding_not_asked_for_is_refused(encoding: str) -> None:
    with pytest.raises(Undecodable):
        BodyDecoder(encoding)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_bytes_that_are_not_the_encoding_are_refused(encoding: str) -> None:
    decoder = BodyDecoder(encoding)
    with pytest.raises(Undecodable):
        decoder.feed(b"this is no compressed body at all" * 3, 10**6)
