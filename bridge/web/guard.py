"""The HTTP server's limits against a client on the network that means harm, or is broken.

- At most `MAX_CONNECTIONS` connections at once: one more is closed as it opens, so a flood
  of connections cannot take the daemon's file descriptors (the kiosk's own, its devices',
  its control socket's) the way 1,100 idle ones did. At most `PER_ADDRESS` of them from one
  client address (an IPv6 client's /64, where one host holds many), so one client on the
  network cannot hold every connection and lock the screen out.
- A connection that has not sent a request's headers `FIRST_REQUEST_S` after it opened is
  closed (aiohttp waits for headers without end: a byte every few seconds held one open
  for good); one idle between requests, after `KEEPALIVE_S`.
- A refused request's body is not read (aiohttp would otherwise drain up to 10 s of it,
  a core's worth from a fast sender).
- What such clients cause is logged at most once per `LOG_EVERY_S` for each kind, then
  counted ("and 2,999 more since"): a refused request, a connection turned away,
  a request that does not parse (aiohttp logs that as an ERROR with a traceback, 1.9 MB a
  second from one client). One line each, inert; never the journal's whole budget.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bridge.inert import inert

MAX_CONNECTIONS = 64  # a kiosk screen, a scraper, a few phones: far more than any of them
PER_ADDRESS = 32  # behind a proxy every client is the proxy's address: half, not less
FIRST_REQUEST_S = 10.0
KEEPALIVE_S = 15.0
LOG_EVERY_S = 10.0

log = logging.getLogger("bridge.web")


class Throttle:
    """Log a kind of line at most once per `LOG_EVERY_S`; the ones held back are counted in
    the next line of that kind."""

    def __init__(self, logger: logging.Logger = log,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def log(self, level: int, kind: str, msg: str, *args: object) -> None:
        now = self._clock()
        if now - self._last.get(kind, -LOG_EVERY_S) < LOG_EVERY_S:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        self._last[kind] = now
        held = self._held.pop(kind, 0)
        more = f" (and {held:,} more since)" if held else ""
        self._logger.log(level, msg + "%s", *args, more)


class _BadRequests(logging.Filter):
    """aiohttp's "Error handling request" (a request that does not parse: a line too long,
    bytes that are no HTTP) as one throttled warning without its traceback."""

    def __init__(self, throttle: Throttle) -> None:
        super().__init__()
        self._throttle = throttle

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):  # a handler's own failure: as it is
            return True
        self._throttle.log(logging.WARNING, "unparsed", "http: a request that does not "
                           "parse was answered 400 or dropped (%s)", exc.__class__.__name__)
        return False


def client_key(peername: object) -> str:
    """Who a connection is from, for `PER_ADDRESS`: the address, an IPv6 one's /64."""
    host = peername[0] if isinstance(peername, tuple) and peername else peername
    try:
        address = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return str(host)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class _TurnedAway(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class Guard:
    """The protocol factory of the listening socket around aiohttp's, and its middleware's
    note of each connection that sent a request."""

    def __init__(self, throttle: Throttle) -> None:
        self.throttle = throttle
        self.turned_away = 0
        self._served: weakref.WeakSet[Any] = weakref.WeakSet()
        self._opening = 0  # handlers made, not yet (surely) among the server's connections
        self._clients: dict[Any, str] = {}  # admitted handlers (no weak references)
        self.handler_logger = logging.getLogger("bridge.web.requests")
        for earlier in [f for f in self.handler_logger.filters if isinstance(f, _BadRequests)]:
            self.handler_logger.removeFilter(earlier)  # one server's throttle at a time
        self.handler_logger.addFilter(_BadRequests(throttle))

    def runner_options(self) -> dict[str, Any]:
        """What `web.AppRunner` passes to each connection's handler."""
        return {"keepalive_timeout": KEEPALIVE_S, "lingering_time": 0.0,
                "logger": self.handler_logger}

    def factory(self, server: web.Server) -> Any:
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.BaseProtocol:
            # a burst is accepted (up to the backlog), each handler made, before any counts
            # among the server's connections: those just made count until the next turn
            # of the loop, which runs their `connection_made` right after `_opened`
            if len(server.connections) + self._opening >= MAX_CONNECTIONS:
                self.turned_away += 1
                self.throttle.log(logging.WARNING, "full", "http: %d connections open: one "
                                  "more turned away", MAX_CONNECTIONS)
                return _TurnedAway()
            handler = server()
            self._opening += 1
            loop.call_soon(self._opened, loop, server, handler)
            loop.call_later(FIRST_REQUEST_S, self._first_request_due, handler)
            return handler
        return protocol

    def _opened(self, loop: asyncio.AbstractEventLoop, server: web.Server,
                handler: Any) -> None:
        self._opening -= 1
        # the transport, made after the factory returned, gives `connection_made` its turn
        # right after this one: the peer is known on the next
        loop.call_soon(self._admit, server, handler)

    def _admit(self, server: web.Server, handler: Any) -> None:
        """Close a connection from a client that already holds `PER_ADDRESS`."""
        transport = handler.transport
        if transport is None:
            return
        key = client_key(transport.get_extra_info("peername"))
        live = set(server.connections)
        self._clients = {h: k for h, k in self._clients.items() if h in live}
        held = sum(1 for k in self._clients.values() if k == key)
        if held < PER_ADDRESS:
            self._clients[handler] = key
            return
        self.turned_away += 1
        self.throttle.log(logging.WARNING, "full-address", "http: %d connections open from "
                          "%s: one more turned away", PER_ADDRESS, inert(key, 64))
        transport.abort()

    def _first_request_due(self, handler: Any) -> None:
        transport = handler.transport
        if transport is not None and transport not in self._served:
            transport.abort()

    def served(self, request: web.Request) -> None:
        """The middleware saw a request (its headers) on this connection."""
        if request.transport is not None:
            self._served.add(request.transport)
