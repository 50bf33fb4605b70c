"""A small HTTP CONNECT proxy on loopback, in a thread, that records every tunnel it opens,
and can be a bad link: `rate` bytes per second each way, and `stall(seconds)` holding
everything both ways (nothing read, nothing forwarded) for a while.

Written here rather than taken from a package (proxy.py): the tests need only CONNECT and
a record of what was asked, which is forty lines; a plugin framework would hide both.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from types import TracebackType


class ConnectProxy:
    def __init__(self, hosts: dict[str, str] | None = None) -> None:
        # names only the proxy can resolve (as a corporate proxy's own DNS): name -> address
        self.hosts = hosts or {}
        self.tunnels: list[str] = []  # "host:port" of every CONNECT, in order
        self.refused: list[str] = []  # request lines that were not CONNECT
        self.sent: list[int] = []  # bytes the client sent through each tunnel, in order
        self.rate: float | None = None  # bytes per second each way; None: as fast as it goes
        self.held_until = 0.0  # time.monotonic(): nothing moves before it
        self.held = 0  # chunks that waited out a stall
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="connect-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            pending = [t for t in asyncio.all_tasks(self._loop) if not t.done()]
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if method != "CONNECT":
                self.refused.append(f"{method} {target}")
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            host = host.strip("[]")
            up_reader, up_writer = await asyncio.open_connection(self.hosts.get(host, host),
                                                                 int(port))
            self.tunnels.append(target)
            self.sent.append(0)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(self._pipe(reader, up_writer, len(self.sent) - 1),
                                 self._pipe(up_reader, writer))
        writer.close()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                    counted: int | None = None) -> None:
        with contextlib.suppress(Exception):
            while data := await src.read(65536 if self.rate is None else 1400):
                if time.monotonic() < self.held_until:
                    self.held += 1
                while time.monotonic() < self.held_until:
                    await asyncio.sleep(0.01)
                if counted is not None:
                    self.sent[counted] += len(data)
                dst.write(data)
                await dst.drain()
                if self.rate is not None:
                    await asyncio.sleep(len(data) / self.rate)
        with contextlib.suppress(Exception):
            dst.close()

    def stall(self, seconds: float) -> None:
        """From now, nothing moves either way for `seconds` (TCP stays open, as on a Wi-Fi
        roam or a congested uplink); what was sent meanwhile follows after."""
        self.held_until = time.monotonic() + seconds

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
