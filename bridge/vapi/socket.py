"""The call socket: one call's `transport.websocketCallUrl`, opened with the one connect
retry (`bridge.retry.SOCKET_CONNECT`), bounded, kept alive, and never able to hang a send.

- A message up to `MAX_MESSAGE` is taken off the wire, so one huge frame does not kill the
  call; one over `MAX_USEFUL` is dropped and counted (`oversized`), never parsed. One over
  `MAX_MESSAGE` closes the connection (websockets' `max_size`, code 1009): a bound on
  what a server can make the kiosk hold, far past any message Vapi sends.
- No keepalive of websockets' own: a link that carries audio is alive, and one that goes
  quiet is found by `quiet()` (Vapi streams audio all call long) and pinged at once by
  `answers()`, where anything received counts as a pong (`bridge.call.watchdog`). The
  keepalive (a ping every 5 s, 10 s for its pong) ended calls whose pong queued behind a
  slow link's backlog after a stall, while audio flowed again.
- A send blocked `SEND_TIMEOUT_S` raises `TimeoutError`: the connection is gone.
- Nothing is sent once Vapi has closed its side, and the receive buffer is wide
  (`bridge.vapi.tcp`): an abortive close (1006) right after a goodbye sent whole lost its
  last seconds on a loaded kiosk.
- Text frames arrive parsed (`messages.parse_event`, which never raises; one of 64 KiB or
  more on a thread of its own, `offloop`, the loop running meanwhile); what cannot be
  used (too big, or not a message) is dropped and counted (`malformed`), the first with a
  warning.
- Binary frames read back to back (one read off the socket; websockets hands them over
  without letting the loop run) reach `on_audio` as one chunk, once the reader waits again
  or before the next text frame: the downlink's work per chunk (decoding, the jitter
  estimate, the playout write: ~6 µs) is not paid per frame of a flood of 1-7 byte frames
  (Vapi's transport gives no frame size), which held the loop up ~0.8 s per reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from bridge import USER_AGENT
from bridge.errors import NetworkError, ProfileError
from bridge.retry import SOCKET_CONNECT
from bridge.vapi import connect_errors, messages, offloop, tcp
from bridge.vapi.net import untrusted, ws_options

log = logging.getLogger("bridge.call")  # the log category users know these lines by

SEND_TIMEOUT_S = 5.0  # a send blocked this long means the connection is gone
SILENCE_TIMEOUT_S = 8.0  # Vapi streams audio all call long [seen]: this much nothing, ask
MAX_MESSAGE = 16 * 2**20  # accepted by the socket; beyond MAX_USEFUL it is dropped and counted
MAX_USEFUL = 2**20  # a text (JSON) frame
MAX_AUDIO = 4 * 2**20  # a binary frame: a reply sent whole, 131 s of pcm at 16 kHz
OPEN_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 1.0
PONG_GRACE_S = 1.0  # a ping unanswered this long, nothing else either: the link is down


class LinkDown(ConnectionError):
    """The link carries nothing and a ping to it went unanswered: a command sent now would
    sit in the socket's buffer, never read (the call may go on at Vapi all the same)."""


class CallSocket:
    """An open call socket; `label` names the call in log lines (never its full id)."""

    def __init__(self, ws: ClientConnection, label: str) -> None:
        self._ws = ws
        self.label = label
        self.malformed = 0  # messages dropped: too big to read, or unparseable
        self.last_message = time.monotonic()
        self.last_size = 0  # bytes of the text message being handed over (`receive`)
        self.pinged: float | None = None  # when an unanswered ping went out (`answers`)
        self._shut = tcp.PeerShut(ws.transport)

    @classmethod
    async def open(cls, url: str, label: str) -> CallSocket:
        last = ""
        policy = SOCKET_CONNECT
        for attempt in range(1, policy.attempts + 1):
            try:
                ws = await connect(url, user_agent_header=USER_AGENT, compression=None,
                                   max_size=MAX_MESSAGE, ping_interval=None,
                                   close_timeout=CLOSE_TIMEOUT_S,
                                   open_timeout=OPEN_TIMEOUT_S, **ws_options(url))
                tcp.receive_buffer(ws.transport)
                return cls(ws, label)
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                refusal = untrusted(exc, "the call socket")
                if refusal is not None:
                    raise refusal from None
                if connect_errors.proxy_login_refused(exc):  # fails at every attempt
                    raise ProfileError(connect_errors.proxy_login(url)) from None
                last = exc.__class__.__name__
                log.warning("call %s: cannot open the call socket (%s); attempt %d of %d",
                            label, last, attempt, policy.attempts)
                if attempt < policy.attempts:
                    await asyncio.sleep(policy.delay(attempt))
            except InvalidURI:
                raise NetworkError("Vapi returned an unusable websocketCallUrl") from None
        raise NetworkError(f"cannot open the call socket ({last}) — check the network (Vapi "
                           f"ends a call whose socket never connects)")

    async def send(self, data: bytes | str) -> None:
        """Raises `ConnectionClosed`, or `TimeoutError` when the socket does not take it;
        once Vapi has closed its side, sends nothing and returns (the reader takes the rest).

        A send can block only while the transport holds unsent data (websockets waits for
        it to drain): with an empty write buffer the frame goes straight to the socket, so
        the timeout (a timer per 20 ms frame) is set only when there is a backlog."""
        transport = self._ws.transport
        if transport is not None and not transport.is_closing():
            if self._shut():  # Vapi closed its side: a write would lose what it sent (`tcp`)
                return
            if not transport.get_write_buffer_size():
                await self._ws.send(data)
                return
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await self._ws.send(data)

    @property
    def down(self) -> bool:
        """A ping went unanswered `PONG_GRACE_S`, and nothing has arrived since it left."""
        return self.pinged is not None and self.last_message <= self.pinged and \
            time.monotonic() - self.pinged >= PONG_GRACE_S

    @property
    def stalled_s(self) -> float | None:
        """While the link is `down`: the seconds nothing has arrived (else None). Read from
        the watchdog's own marks: nothing is woken for it."""
        return time.monotonic() - self.last_message if self.down else None

    async def send_command(self, command: dict[str, Any]) -> None:
        """Raises `LinkDown` (nothing sent) while the link is `down`, as `send` does else."""
        if self.down:
            raise LinkDown(f"call {self.label}: the call socket carries nothing, and no "
                           f"answer to a ping")
        await self.send(messages.encode(command))
        log.debug("call %s: sent %s", self.label, command.get("type"))

    async def receive(self, on_audio: Callable[[bytes, int], None],
                      on_event: Callable[[messages.Event], None]) -> None:
        """Hand over every message until the socket closes: binary frames to `on_audio`,
        text frames parsed to `on_event` (never a `MalformedEvent`: those are counted).
        Binary frames read in one go are handed over joined, in order (module docstring),
        with the length of the longest of them: the chunk Vapi sent, which the playout's
        jitter estimate sizes itself by (not what one read joined)."""
        batch = _Batch(on_audio, asyncio.get_running_loop())
        try:
            await self._read(batch, on_event)
            batch.flush()
        finally:
            batch.cancel()  # cancelled: nothing is handed over after the reader is gone

    async def _read(self, batch: _Batch, on_event: Callable[[messages.Event], None]) -> None:
        try:
            async for message in self._ws:
                self.last_message = time.monotonic()
                audio = isinstance(message, bytes)
                if len(message) > (MAX_AUDIO if audio else MAX_USEFUL):
                    self._dropped(f"an oversized {'binary (audio)' if audio else 'text'} "
                                  f"message ({len(message)} bytes)")
                elif audio:
                    batch.add(message)
                else:
                    batch.flush()
                    await self._parse(message, on_event)
        except ConnectionClosed:
            pass

    async def _parse(self, text: str, on_event: Callable[[messages.Event], None]) -> None:
        event = await offloop.parse_event(text)  # a big one off the loop's thread
        self.last_size = len(text)
        if not isinstance(event, messages.MalformedEvent):
            on_event(event)
            return
        self._dropped(f"a malformed message ({event.reason})")

    def _dropped(self, what: str) -> None:
        """A message not used, counted (the summary says how many): the first is worth a
        warning, whatever its kind (an oversized one first hid the rest at debug level);
        a stream of them is not."""
        self.malformed += 1
        first = self.malformed == 1
        log.log(logging.WARNING if first else logging.DEBUG, "call %s: ignored %s%s",
                self.label, what, "; the call goes on, more are logged with -v" if first else "")

    async def quiet(self, limit_s: float = SILENCE_TIMEOUT_S, since: float = 0.0,
                    until: asyncio.Event | None = None) -> float:
        """Return once nothing has arrived for `limit_s` (counted from `since` at the
        earliest), or `until` is set: the seconds nothing has arrived. It sleeps until the
        moment the limit could be reached (no polling), then looks again from the latest
        message."""
        while True:
            left = max(self.last_message, since) + limit_s - time.monotonic()
            if left <= 0 or (until is not None and until.is_set()):
                return time.monotonic() - self.last_message
            if until is None:
                await asyncio.sleep(left)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await until.wait()

    async def answers(self, timeout_s: float) -> bool:
        """Whether the link is alive: a pong to a ping within `timeout_s`, or anything
        received meanwhile (on a slow link the pong queues behind the backlog, and is
        not needed once audio flows again). A closed socket counts as answering: its end
        is noticed elsewhere. Wakes four times a second while it waits, no more."""
        sent = self.pinged = time.monotonic()
        deadline = sent + timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                pong = await self._ws.ping()
            while (left := deadline - time.monotonic()) > 0:
                done, _ = await asyncio.wait({pong}, timeout=min(0.25, left))
                if done or self.last_message > sent:
                    self.pinged = None  # answered: the link is up
                    return True
        except TimeoutError:  # the ping could not even be sent
            pass
        except ConnectionClosed:
            return True
        return self.last_message > sent

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self._ws.close()


class _Batch:
    """Binary messages read back to back, handed over as one chunk: on the loop's next turn
    (the reader then waits for the socket: websockets hands over what one read brought
    without letting the loop run), or at once by `flush` (before a text frame, at the
    end). What the handler raises on the loop's turn is raised by the next `add`/`flush`."""

    def __init__(self, deliver: Callable[[bytes, int], None],
                 loop: asyncio.AbstractEventLoop) -> None:
        self._deliver, self._loop = deliver, loop
        self._parts: list[bytes] = []
        self._longest = 0  # bytes: the longest message in `_parts`
        self._due: asyncio.Handle | None = None
        self._error: BaseException | None = None

    def add(self, data: bytes) -> None:
        self._raise()
        self._parts.append(data)
        if len(data) > self._longest:
            self._longest = len(data)
        if self._due is None:
            self._due = self._loop.call_soon(self._turn)

    def _turn(self) -> None:
        self._due = None
        try:
            self._hand_over()
        except Exception as exc:  # raised in the reader (`_raise`)
            self._error = exc

    def flush(self) -> None:
        self._raise()
        self.cancel()
        self._hand_over()

    def cancel(self) -> None:
        if self._due is not None:
            self._due.cancel()
            self._due = None

    def _hand_over(self) -> None:
        parts = self._parts
        if parts:
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            longest, self._longest = self._longest, 0
            parts.clear()
            self._deliver(data, longest)

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
