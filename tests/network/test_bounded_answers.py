"""Answers are read bounded: a body without end, a huge error body or an answer trickled a
byte at a time just inside the per-read timeout holds neither the bridge's memory nor its
request. A raw HTTP server on loopback, counting the body bytes it got to send before the
client let go, against the bridge's own API client and controlUrl POST."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pytest

from bridge.errors import ApiRequestError, NetworkError, Refused
from bridge.retry import RetryPolicy
from bridge.vapi.api import MAX_BODY, VapiApi
from bridge.vapi.callinfo import CallInfo
from bridge.vapi.commands import CallCommands
from bridge.vapi.net import DEADLINE_FACTOR, ERROR_CAP, SLOW_LINK_BYTES_S

TIMEOUT = 2.0  # the configured timeout: a whole answer within DEADLINE_FACTOR times it
DEADLINE = DEADLINE_FACTOR * TIMEOUT
GUARD = 20.0  # a client that never lets go fails here rather than hanging the suite
SAFETY = 4 * MAX_BODY  # "without end" stops here: a client reading on cannot eat the machine
# what the kernel's socket buffers may hold between server and client (the server's send
# buffer is pinned small; the client's receive buffer grows as Linux tunes it, to 6 MiB)
SLACK = 8 * 2**20  # (measured: 192 KiB past the cap; Linux may grow the buffer further)
TRICKLE_S = 0.3  # a byte this often: well within the per-read timeout, on a loaded machine
TRICKLED_MAX = DEADLINE / TRICKLE_S + 2  # bytes by the deadline, and one more to notice
BLOCK = 2**16
CALL_ID = "019a6f3e-2b7c-7d41-9c0e-5f1a9a3c1f07"
BODY: dict[str, Any] = {"assistantId": "echo", "name": "front-desk",
                        "transport": {"provider": "vapi.websocket"}}


@dataclass
class Exchange:
    method: str
    path: str
    sent: int = 0  # body bytes handed to the socket and drained before the client left
    head: str = ""  # the request's line and headers


Reader, Writer = asyncio.StreamReader, asyncio.StreamWriter
Answer = Callable[[Exchange, Reader, Writer], Awaitable[bool]]  # True: keep the connection


def head(status: int, *lines: str) -> bytes:
    return "".join([f"HTTP/1.1 {status} X\r\n", *(f"{line}\r\n" for line in lines),
                    "\r\n"]).encode()


async def send(exchange: Exchange, writer: Writer, data: bytes, counted: int) -> None:
    writer.write(data)
    await writer.drain()
    exchange.sent += counted


def fixed(status: int, body: bytes) -> Answer:
    async def answer(exchange: Exchange, _: Reader, writer: Writer) -> bool:
        writer.write(head(status, f"Content-Length: {len(body)}"))
        await send(exchange, writer, body, len(body))
        return True
    return answer


def endless(status: int, *, gzip: bool = False) -> Answer:
    """A chunked body that goes on (to SAFETY bytes, gzip's counted decoded)."""
    async def answer(exchange: Exchange, _: Reader, writer: Writer) -> bool:
        packer = zlib.compressobj(wbits=31) if gzip else None
        writer.write(head(status, "Content-Type: application/json",
                          "Transfer-Encoding: chunked",
                          *(["Content-Encoding: gzip"] if gzip else [])))
        block = b'{"id": "' + b"x" * (BLOCK - 8)
        while exchange.sent < SAFETY:
            data = packer.compress(block) + packer.flush(zlib.Z_SYNC_FLUSH) if packer else block
            await send(exchange, writer, b"%x\r\n%s\r\n" % (len(data), data), len(block))
            # gzip's blocks barely compress (hex of random bytes: 2 to 1), so what the
            # server gets to send tracks what the client decodes: a client decoding it all
            # before looking at its size would take the whole SAFETY
            block = os.urandom(BLOCK // 2).hex().encode() if packer else b"x" * BLOCK
        tail = packer.flush() if packer else b""
        writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail) if tail else b"0\r\n\r\n")
        return False
    return answer


def bomb(status: int, decoded: int, encoding: str = "gzip") -> Answer:
    """A body of `decoded` zeros, compressed about 1000 to 1 (a read of 64 KiB is 64 MiB)."""
    packer = zlib.compressobj(9, wbits=31 if encoding == "gzip" else 15)
    data = b"".join(packer.compress(bytes(2**20)) for _ in range(decoded // 2**20))
    data += packer.flush()

    async def answer(exchange: Exchange, _: Reader, writer: Writer) -> bool:
        writer.write(head(status, "Content-Type: application/json",
                          f"Content-Encoding: {encoding}", f"Content-Length: {len(data)}"))
        await send(exchange, writer, data, len(data))
        return False
    return answer


def huge(status: int) -> Answer:
    """An answer of SAFETY bytes, Vapi's error message first."""
    async def answer(exchange: Exchange, _: Reader, writer: Writer) -> bool:
        writer.write(head(status, "Content-Type: application/json",
                          f"Content-Length: {SAFETY}"))
        block = b'{"message": "the call is over", "pad": "'.ljust(BLOCK, b"x")
        while exchange.sent < SAFETY:
            await send(exchange, writer, block, BLOCK)
            block = b"x" * BLOCK
        return False
    return answer


def trickle(status: int) -> Answer:
    """A byte every TRICKLE_S of a 1000-byte body, until the client lets go."""
    async def answer(exchange: Exchange, reader: Reader, writer: Writer) -> bool:
        writer.write(head(status, "Content-Type: application/json", "Content-Length: 1000"))
        for _ in range(1000):
            if reader.at_eof() or writer.is_closing():
                break
            await send(exchange, writer, b" ", 1)
            await asyncio.sleep(TRICKLE_S)
        return False
    return answer


def trickled_head(status: int) -> Answer:
    """The status line, then a byte of a header every TRICKLE_S, until the client lets go."""
    async def answer(exchange: Exchange, reader: Reader, writer: Writer) -> bool:
        writer.write(f"HTTP/1.1 {status} X\r\nX-Pad: ".encode())
        while not (reader.at_eof() or writer.is_closing()):
            await send(exchange, writer, b"x", 1)
            await asyncio.sleep(TRICKLE_S)
        return False
    return answer


def steady(status: int, body: bytes, seconds: float) -> Answer:
    """`body` sent evenly over `seconds`: a long answer on a slow but working link."""
    async def answer(exchange: Exchange, _: Reader, writer: Writer) -> bool:
        writer.write(head(status, "Content-Type: application/json",
                          f"Content-Length: {len(body)}"))
        step = len(body) // 64 + 1
        for i in range(0, len(body), step):
            await send(exchange, writer, body[i:i + step], len(body[i:i + step]))
            await asyncio.sleep(seconds / 64)
        return True
    return answer


class RawServer:
    """HTTP/1.1 on loopback, each request answered by its route (method, path)."""

    def __init__(self, routes: dict[tuple[str, str], Answer]) -> None:
        self.routes = routes
        self.exchanges: list[Exchange] = []
        self.url = ""
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], Writer] = {}

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._connections.values():  # each answer ends now, as when the
            writer.transport.abort()  # client lets go
        if self._connections:
            await asyncio.wait(self._connections)

    async def _serve(self, reader: Reader, writer: Writer) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        # small buffers on the server's side, so its count stays close to what was read
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2**15)
        writer.transport.set_write_buffer_limits(high=0)
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                method, target = request.decode().split(" ")[:2]
                length = re.search(r"(?i)\r\ncontent-length: *(\d+)", request.decode())
                await reader.readexactly(int(length[1]) if length else 0)
                exchange = Exchange(method, target.split("?")[0], head=request.decode())
                self.exchanges.append(exchange)
                if not await self.routes[(exchange.method, exchange.path)](
                        exchange, reader, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client let go
        finally:
            writer.close()

    def asked(self) -> list[tuple[str, str]]:
        return [(e.method, e.path) for e in self.exchanges]


def create_call(routes: dict[tuple[str, str], Answer], *, attempts: int,
                error: type[Exception], match: str) -> RawServer:
    """`create_call` against a server answering by `routes`: it fails with `error`."""
    async def go() -> RawServer:
        async with RawServer(routes) as server, asyncio.timeout(GUARD):
            retry = RetryPolicy(attempts=attempts, base_delay=0.05, max_delay=0.1)
            async with VapiApi(server.url, "private-key", timeout=TIMEOUT, retry=retry) as api:
                with pytest.raises(error, match=match):
                    await api.create_call(dict(BODY))
            return server

    return asyncio.run(go())


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_a_created_answer_without_end_is_read_to_the_cap_then_refused(gzip: bool) -> None:
    """The cap holds the decoded body: 16 MiB of gzip's output, not of its input."""
    server = create_call({("POST", "/call"): endless(201, gzip=gzip)}, attempts=3,
                         error=ApiRequestError,
                         match=r"^POST /call: the answer was larger than 16 MiB — is "
                               r"api.base_url a Vapi API\?$")
    assert server.asked() == [("POST", "/call")], "refused, not retried"
    # (gzip: the socket buffers hold twice their size of decoded body)
    assert server.exchanges[0].sent <= MAX_BODY + SLACK * (2 if gzip else 1)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compressed_answer_is_decoded_no_further_than_the_cap(encoding: str) -> None:
    """256 MiB of zeros in 256 KiB of gzip: the body held never passes the cap by more than
    a read (httpx alone decodes a 64 KiB read whole: 64 MiB at once, 143 MiB at the peak).
    What is held at most: the body read to the cap, and its copy as `bytes`."""
    tracemalloc.start()
    try:
        server = create_call({("POST", "/call"): bomb(201, 256 * 2**20, encoding)},
                             attempts=1, error=ApiRequestError,
                             match=r"^POST /call: the answer was larger than 16 MiB")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * MAX_BODY + 4 * 2**20, f"{peak / 2**20:.0f} MiB held at once"
    assert "\r\naccept-encoding: gzip, deflate\r\n" in server.exchanges[0].head.lower()


def test_huge_error_bodies_are_read_for_their_message_only() -> None:
    """Every 500 (the create, then each lookup of a created call) is read to 64 KiB."""
    server = create_call({("POST", "/call"): huge(500), ("GET", "/call"): huge(500)},
                         attempts=2, error=NetworkError,
                         match=r"^POST /call: HTTP 500, and Vapi could not be asked whether "
                               r"the call was created .* not trying again")
    assert server.asked() == [("POST", "/call"), ("GET", "/call"), ("GET", "/call")]
    assert max(e.sent for e in server.exchanges) <= ERROR_CAP + SLACK


def test_a_trickled_created_answer_ends_at_the_deadline_and_is_looked_for() -> None:
    """Past the deadline the create may have happened: the lookup runs, as on a timeout."""
    server = create_call({("POST", "/call"): trickle(201), ("GET", "/call"): fixed(200, b"[]")},
                         attempts=1, error=NetworkError,
                         match=rf"^could not reach Vapi at 127.0.0.1:\d+ to create the call: "
                               rf"the "
                               rf"answer took longer than {DEADLINE:g} s after 1 attempt — ")
    assert server.asked() == [("POST", "/call"), ("GET", "/call")]
    assert 1 <= server.exchanges[0].sent <= TRICKLED_MAX


@pytest.mark.parametrize("answer", ["huge", "trickle"])
def test_a_control_url_answer_is_bounded_alike(answer: str) -> None:
    async def go() -> RawServer:
        routes = {("POST", "/control"): huge(400) if answer == "huge" else trickle(400)}
        async with RawServer(routes) as server, asyncio.timeout(GUARD):
            async with VapiApi(server.url, "private-key", timeout=TIMEOUT) as api:
                commands = CallCommands(api, _no_socket, via="control-url", public_key=None,
                                        allow_plaintext=False, timeout=TIMEOUT)
                commands.info = CallInfo.from_body({
                    "id": "019a6f3e-2b7c-7d41-9c0e-5f1a9a3c1f07",
                    "monitor": {"controlUrl": f"{server.url}/control"}})
                if answer == "huge":
                    with pytest.raises(Refused, match=r"^the controlUrl refused say \(400: "
                                                      r"\{\"message\": \"the call is over\""):
                        await commands.send({"type": "say", "content": "hello"})
                else:
                    with pytest.raises(NetworkError, match=rf"^call \S+: the controlUrl's "
                                                           rf"answer to say took longer than "
                                                           rf"{DEADLINE:g} s: Vapi may or may "
                                                           rf"not have taken it — "):
                        await commands.send({"type": "say", "content": "hello"})
            return server

    server = asyncio.run(go())
    (exchange,) = server.exchanges
    assert 1 <= exchange.sent <= (ERROR_CAP + SLACK if answer == "huge" else TRICKLED_MAX)


async def _no_socket(_: dict[str, Any]) -> None:
    raise AssertionError("a control-url command never goes over the socket")


def test_a_long_answer_on_a_slow_link_still_comes_whole() -> None:
    """The deadline grows with what arrives (a second per SLOW_LINK_BYTES_S): a call object
    of 576 KiB sent evenly over DEADLINE + 3 s (64 KiB/s) is read whole, where a trickle
    ends at the deadline (above)."""
    seconds = DEADLINE + 3
    pad = "x" * int(seconds * 2 * SLOW_LINK_BYTES_S)
    body = json.dumps({"id": CALL_ID, "transport": {"websocketCallUrl": "wss://h.example/t"},
                       "pad": pad}).encode()

    async def go() -> CallInfo:
        routes = {("GET", f"/call/{CALL_ID}"): steady(200, body, seconds)}
        async with RawServer(routes) as server, asyncio.timeout(GUARD + seconds), \
                VapiApi(server.url, "private-key", timeout=TIMEOUT) as api:
            return await api.get_call(CALL_ID, attempts=1)

    info = asyncio.run(go())
    assert info.raw["pad"] == pad
    info.release_secrets()


def test_an_answer_whose_head_trickles_ends_at_the_deadline() -> None:
    """The deadline counts from the request, not from the body's first byte: an answer
    whose headers come a byte at a time, each read well within the per-read timeout, ends
    there. Before, `read_answer` set it as a delay of the loop's whole clock (`timeout`,
    not `timeout_at`): until a body byte came, nothing but the guard ended it."""
    async def go() -> None:
        routes = {("GET", f"/call/{CALL_ID}"): trickled_head(200)}
        async with RawServer(routes) as server, asyncio.timeout(GUARD), \
                VapiApi(server.url, "private-key", timeout=1.0) as api:
            started = asyncio.get_running_loop().time()
            with pytest.raises(NetworkError, match=r"to look up the call: (the answer took "
                                                   r"longer than 3 s|timed out)"):
                await api.get_call(CALL_ID, attempts=1)
            assert asyncio.get_running_loop().time() - started < DEADLINE_FACTOR + 2

    asyncio.run(go())
