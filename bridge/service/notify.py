"""A tiny sd_notify client: readiness, status, watchdog and stopping, with no dependencies.

The protocol (see sd_notify(3)): newline-separated ``KEY=VALUE`` assignments sent as one
datagram on an AF_UNIX SOCK_DGRAM socket to the address in ``$NOTIFY_SOCKET`` — a file
system path, or ``@name`` for a name in the abstract namespace. Without ``$NOTIFY_SOCKET``
(not started by systemd, or ``Type=simple``) every call is a silent no-op, and no call ever
raises into its caller: a failed send is logged at debug level and reported as ``False``.

The watchdog ping must come from the event loop itself (:func:`watchdog_loop`), so that a
stalled loop stops pinging and systemd kills and restarts the service.

A message the manager has no room for (its queue is full, e.g. mid daemon-reload) is tried
again: `RETRY` attempts in all, 10 ms apart, then dropped. On the event loop the retries are
the loop's timers, so the caller never waits; later messages queue behind it, keeping
their order. With no loop running (a plain script) the send retries before it returns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bridge import redact
from bridge.errors import BridgeError
from bridge.inert import printable
from bridge.retry import RetryPolicy

log = logging.getLogger("bridge.service")

#: A STATUS= line is cut to this many characters (systemctl shows one line anyway).
MAX_STATUS_CHARS = 400
#: A message the manager's full queue refused: tried again briefly (~40 ms in all).
RETRY = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.01, jitter=False)
#: Messages waiting for room at most; past that a new one is dropped.
MAX_PENDING = 32


@dataclass
class _Pending:
    data: bytes
    what: str  # its first key, for the log
    attempts: int = 0  # tries made
    sent: bool = False


def _parse_address(value: str | None) -> str | bytes | None:
    """The sendto() address for a ``$NOTIFY_SOCKET`` value, or None when unusable."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()  # abstract namespace
    if value.startswith("/"):
        return value
    # systemd 254+ may also hand out "vsock:CID:PORT" (for VMs); not needed on a kiosk.
    log.debug("NOTIFY_SOCKET=%r is not a path or an @abstract name; not notifying", value)
    return None


def stop_status(exc: BaseException | None) -> str:
    """The STATUS= line as the daemon stops. systemd keeps it after the process has exited
    (until the next start), so `systemctl status` of a unit that a fatal error stopped (a
    revoked key, exit 3, not restarted) shows that error, masked, rather than "stopping"."""
    if not isinstance(exc, BridgeError):
        return "stopping"
    return f"stopped (exit {int(exc.exit_code)}): " \
        f"{printable(redact.scrub_urls(str(exc)), MAX_STATUS_CHARS)}"


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_STATUS_CHARS else line[: MAX_STATUS_CHARS - 1] + "…"


class Notifier:
    """Sends sd_notify messages to the service manager; a no-op when there is none.

    ``address`` defaults to ``$NOTIFY_SOCKET`` read when the notifier is made. Use it from
    one thread: the event loop's (whose timers retry a message the manager has no room for
    yet), or any thread when no loop runs there. The socket is non-blocking; a message the
    manager cannot take within ~40 ms is dropped.
    """

    def __init__(self, address: str | None = None, *,
                 env: Mapping[str, str] | None = None) -> None:
        if address is None:
            address = (os.environ if env is None else env).get("NOTIFY_SOCKET")
        self._address = _parse_address(address)
        self._sock: socket.socket | None = None
        self._pending: deque[_Pending] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    @property
    def enabled(self) -> bool:
        """True when there is a notify socket to send to."""
        return self._address is not None

    @property
    def address(self) -> str | bytes | None:
        return self._address

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` assignments as one datagram; True if it was sent now.

        False when there is no manager, the send failed, or the manager has no room yet:
        then it is retried (see the module's doc) and True is returned only when no loop
        runs and a retry got it through.
        """
        if self._address is None or not assignments:
            return False
        item = _Pending("\n".join(assignments).encode("utf-8", "replace"),
                        assignments[0].split("=", 1)[0])
        if not self._pending:  # else behind the ones waiting: the order is kept
            try:
                if self._sendto(item.data):
                    return True
            except (OSError, ValueError) as exc:
                log.debug("sd_notify %s failed: %s", item.what, exc)
                return False
            item.attempts = 1
        elif self._pending[-1].data == item.data:  # the same again (a watchdog ping)
            return False
        elif len(self._pending) >= MAX_PENDING:
            log.debug("sd_notify %s dropped: %d messages wait already", item.what,
                      len(self._pending))
            return False
        self._pending.append(item)
        self._retry_later()
        return item.sent

    def _sendto(self, data: bytes) -> bool:
        """True if sent, False if the manager's queue is full; other failures raise."""
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)
        try:
            self._sock.sendto(data, self._address)  # type: ignore[arg-type]
        except BlockingIOError:
            return False
        return True

    def _flush(self, *, wait: bool) -> float | None:
        """Send what waits, in order; None when all is gone, else the seconds until the
        next try (`wait`: sleep those here instead, for when no loop runs)."""
        while self._pending:
            item = self._pending[0]
            try:
                item.sent = self._sendto(item.data)
            except (OSError, ValueError) as exc:
                log.debug("sd_notify %s failed: %s", item.what, exc)
            else:
                if not item.sent:
                    item.attempts += 1
                    if item.attempts < RETRY.attempts:
                        if not wait:
                            return RETRY.delay(item.attempts)
                        time.sleep(RETRY.delay(item.attempts))
                        continue
                    log.debug("sd_notify %s dropped: the service manager's notify queue "
                              "stayed full", item.what)
            self._pending.popleft()
        return None

    def _retry_later(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop to stall: retry here and now
            if self._pending[0].attempts:
                time.sleep(RETRY.delay(self._pending[0].attempts))
            self._flush(wait=True)
            return
        if self._timer is None or self._timer_loop is not loop:
            delay = RETRY.delay(max(self._pending[0].attempts, 1))
            self._timer, self._timer_loop = loop.call_later(delay, self._on_timer), loop

    def _on_timer(self) -> None:
        delay = self._flush(wait=False)
        if delay is None:
            self._timer = self._timer_loop = None
        else:
            assert self._timer_loop is not None
            self._timer = self._timer_loop.call_later(delay, self._on_timer)

    def ready(self, status: str | None = None) -> bool:
        """READY=1: the profile is loaded and the devices are open (with an optional STATUS)."""
        if status is None:
            return self.send("READY=1")
        return self.send("READY=1", f"STATUS={_one_line(status)}")

    def status(self, text: str) -> bool:
        """STATUS=…: one line saying what the daemon is doing (shown by systemctl status)."""
        return self.send(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        """WATCHDOG=1: the keep-alive ping."""
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """STOPPING=1: shutting down (ending the call, closing devices)."""
        if status is None:
            return self.send("STOPPING=1")
        return self.send("STOPPING=1", f"STATUS={_one_line(status)}")

    def reloading(self, status: str | None = None) -> bool:
        """RELOADING=1 (with the MONOTONIC_USEC systemd 253+ wants); send ready() when done."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        fields = ["RELOADING=1", f"MONOTONIC_USEC={usec}"]
        if status is not None:
            fields.append(f"STATUS={_one_line(status)}")
        return self.send(*fields)

    def close(self) -> None:
        """Close the socket; what still waits for room gets one last try."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_loop = None
        for item in self._pending:
            item.attempts = RETRY.attempts - 1
        self._flush(wait=False)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Notifier(address={self._address!r})"


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of ``WatchdogSec=``), or None when off.

    From ``$WATCHDOG_USEC``; when ``$WATCHDOG_PID`` is set it must be this process (else the
    watchdog is meant for another one, e.g. a parent shell, and None is returned).
    """
    env = os.environ if env is None else env
    usec_text = env.get("WATCHDOG_USEC", "").strip()
    if not usec_text:
        return None
    try:
        usec = int(usec_text)
    except ValueError:
        log.debug("ignoring WATCHDOG_USEC=%r: not an integer", usec_text)
        return None
    if usec <= 0:
        return None
    pid_text = env.get("WATCHDOG_PID", "").strip()
    if pid_text:
        try:
            pid = int(pid_text)
        except ValueError:
            log.debug("ignoring the watchdog: WATCHDOG_PID=%r is not a number", pid_text)
            return None
        if pid != os.getpid():
            return None
    return usec / 2 / 1_000_000


async def watchdog_loop(notifier: Notifier, interval: float | None = None, *,
                        healthy: Callable[[], bool] | None = None) -> None:
    """Send WATCHDOG=1 every ``interval`` seconds from the running event loop, until cancelled.

    ``interval`` defaults to :func:`watchdog_interval`; when the watchdog is off (or there is
    no notify socket) this returns at once. Because the ping is a coroutine on the loop, a
    loop blocked by a stuck callback stops pinging and systemd restarts the service.
    ``healthy``, when given, is asked before each ping; while it returns False (or raises)
    no ping is sent, so a daemon whose loop runs but whose work is stuck is restarted too.
    """
    if interval is None:
        interval = watchdog_interval()
    if interval is None or interval <= 0 or not notifier.enabled:
        return
    while True:
        ok = True
        if healthy is not None:
            try:
                ok = bool(healthy())
            except Exception:
                log.debug("watchdog health check raised; not pinging", exc_info=True)
                ok = False
        if ok:
            notifier.watchdog()
        else:
            log.debug("watchdog health check failed; not pinging")
        await asyncio.sleep(interval)
