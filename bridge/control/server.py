"""The daemon's control socket: a Unix stream socket, mode 0600, one JSON request per line
and one JSON answer line each — except `events`, whose answer is a stream of event lines
until either end closes (`bridge.control.stream`).

A peer whose uid (SO_PEERCRED) is not the daemon's gets a refusal and is disconnected. A
socket file left by a dead daemon is replaced; one a live daemon answers on is not (the
new daemon stops with a clear error). The file is removed when the daemon exits.

```python
async with serve_control(daemon, profile):  # at paths.socket_path(profile)
    await daemon_work()
```

`ControlServer` answers each request with the `respond` function it is given;
`serve_control` gives it `commands.handle` on the daemon (a `commands.Host`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import socket
import stat
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from bridge.control import stream
from bridge.control.commands import Host, handle
from bridge.control.paths import client_candidates, prepare_directory, socket_path
from bridge.control.peers import Peer, ctl_hint, probe, stop_hint
from bridge.control.request import MAX_LINE, Answer, error, refusal
from bridge.errors import ProfileError
from bridge.events import EventBus
from bridge.inert import printable
from bridge.profile import Profile
from bridge.vapi import safejson

log = logging.getLogger("bridge.control")

IDLE_TIMEOUT_S = 60.0
STOP_GRACE_S = 2.0
UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
Respond = Callable[[Any], Awaitable[Answer]]  # a parsed request → its answer


class SocketInUse(ProfileError):
    """Another daemon answers on this control socket."""


def peer_uid(sock: socket.socket) -> int | None:
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, UCRED.size)
    except (OSError, AttributeError):
        return None
    return int(UCRED.unpack(raw)[1])


_INVALID = object()


def _parse(line: bytes) -> Any:
    """A request line, bounded as the network's JSON is (60,000 `[` raised RecursionError,
    and the client got no answer)."""
    try:
        return safejson.loads(line, max_bytes=MAX_LINE)
    except ValueError:
        return _INVALID


def _answer_line(answer: dict[str, Any]) -> bytes:
    return (json.dumps(answer, separators=(",", ":"), default=str) + "\n").encode()


class ControlServer:
    def __init__(self, respond: Respond, path: Path, *, allowed_uid: int | None = None,
                 events: EventBus | None = None, profile: str | None = None) -> None:
        self.respond = respond
        self.profile = profile  # the profile it serves: another's daemon on `path` is told
        self.events = events  # for `events` streams (`bridge.control.stream`), if given
        self._closing = asyncio.Event()  # set on stop: streams write out what is queued
        self.path = path
        self.allowed_uid = os.getuid() if allowed_uid is None else allowed_uid
        self._server: asyncio.Server | None = None
        self._inode: tuple[int, int] | None = None
        self._clients: set[asyncio.Task[Any]] = set()
        self._busy: set[asyncio.Task[Any]] = set()  # in a request, or streaming events

    async def start(self) -> None:
        prepare_directory(self.path)
        await self._clear_stale()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old = os.umask(0o177)
            try:
                sock.bind(str(self.path))
            finally:
                os.umask(old)
            os.chmod(self.path, 0o600)
            sock.listen(16)
            sock.setblocking(False)
            info = self.path.stat()
            self._inode = (info.st_dev, info.st_ino)
            self._server = await asyncio.start_unix_server(self._serve, sock=sock,
                                                           limit=MAX_LINE)
        except OSError as exc:
            sock.close()
            fix = ("set service.control_socket to a path this user can write (or leave it "
                   "unset: $XDG_RUNTIME_DIR/vapi-bridge/PROFILE.sock)"
                   if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else
                   "check service.control_socket")
            raise ProfileError(f"cannot open the control socket {self.path}: "
                               f"{exc.strerror or exc} — {fix}") from None
        log.info("control socket: %s", self.path)

    async def _clear_stale(self) -> None:
        try:
            info = self.path.lstat()
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(info.st_mode):
            raise ProfileError(f"{self.path} exists and is not a socket; refusing to replace it "
                               f"(set service.control_socket elsewhere)")
        peer = await probe(self.path)
        if peer is not None:
            raise self._in_use(peer)
        log.info("removing a stale control socket %s", self.path)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _in_use(self, peer: Peer) -> SocketInUse:
        if self.profile is not None and peer.profile not in (None, self.profile):  # another
            # kiosk's (a name: it answered): stopping it is not the fix
            return SocketInUse(f"the control socket {self.path} is the one the daemon of "
                               f"profile '{printable(peer.profile, 64)}' answers on — give "
                               f"this profile ({self.profile}) a service.control_socket of "
                               f"its own, or leave it unset (the default socket is named "
                               f"after the profile)")
        return SocketInUse(f"another vapi-bridge daemon is already running with the control "
                           f"socket {self.path} — stop it first (`{ctl_hint(self.path, peer)}"
                           f" status` shows it)")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._closing.set()
            if self._busy:  # answers in flight (e.g. to `end`), streams' last events
                await asyncio.wait(set(self._busy), timeout=STOP_GRACE_S)
            for task in list(self._clients):
                task.cancel()
            for task in list(self._clients):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._server = None
        self._remove_file()

    def _remove_file(self) -> None:
        if self._inode is None:
            return
        with contextlib.suppress(OSError):
            info = self.path.lstat()
            if (info.st_dev, info.st_ino) == self._inode:  # still ours, not a successor's
                self.path.unlink()
        self._inode = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            sock = writer.get_extra_info("socket")
            uid = peer_uid(sock) if sock is not None else None
            if uid != self.allowed_uid:  # root too (docs/control.md): the fix is said
                log.warning("control socket: refused a peer with uid %s", uid)
                writer.write(_answer_line(refusal(uid, self.allowed_uid)))
                await writer.drain()
                return
            await self._requests(reader, writer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            if task is not None:
                self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                        ) -> None:
        while True:
            try:
                async with asyncio.timeout(IDLE_TIMEOUT_S):
                    line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                writer.write(_answer_line(error("request line too long", "usage")))
                await writer.drain()
                return
            if not line:
                return
            if not line.strip():
                continue
            task = asyncio.current_task()
            if task is not None:
                self._busy.add(task)
            try:
                request = _parse(line)
                if self.events is not None and stream.wants_stream(request):
                    await self._stream(request, reader, writer)
                    return
                writer.write(_answer_line(await self._answer(request)))
                await writer.drain()
            finally:
                self._busy.discard(task)  # type: ignore[arg-type]

    async def _stream(self, request: dict[str, Any], reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        """The connection becomes an `events` stream (no idle timeout from here on)."""
        assert self.events is not None
        first = stream.accepted(request)
        if isinstance(first, str):
            writer.write(_answer_line(error(first, "usage")))
            await writer.drain()
            return
        await stream.stream_events(self.events, request, reader, writer, self._closing,
                                   _answer_line(first))

    async def _answer(self, request: Any) -> dict[str, Any]:
        if request is _INVALID:
            return error("the request is not valid JSON", "usage")
        answer = await self.respond(request)
        log.debug("control: %s → %s", request.get("cmd") if isinstance(request, dict) else "?",
                  "ok" if answer.get("ok") else answer.get("error"))
        return answer


@contextlib.asynccontextmanager
async def serve_control(host: Host, profile: Profile) -> AsyncIterator[ControlServer]:
    """Run the host's control socket, at the profile's `paths.socket_path`, for the
    duration of the block."""
    server = ControlServer(partial(handle, host), socket_path(profile), events=host.events,
                           profile=profile.name)
    for other in client_candidates(profile):  # the system unit's, from a shell: not its own
        if other != server.path and (peer := await probe(other)) is not None:
            how = stop_hint(peer)
            raise SocketInUse(f"a vapi-bridge daemon is already running this profile (its "
                              f"control socket {other} answers); a second would open the "
                              f"same devices — stop it first{f' ({how})' if how else ''}, "
                              f"or use `{ctl_hint(other, peer)}`")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
