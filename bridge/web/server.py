"""The HTTP server: the kiosk screen (`/`, `kiosk.html`), `/state`, `/events` (`sse`),
`/metrics` (`metrics`), and the screen's buttons (`POST /call`, `POST /end`), behind
`access`. Nothing it serves holds a key, a URL of the call or a live call's full id: the
events carry the short id, `/state` is the snapshot without ids or device names."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import logging
import re
import socket
from collections.abc import Callable
from importlib import resources
from typing import Any

from aiohttp import web

from bridge.call.hangup import hang_up
from bridge.errors import BridgeError, NoCall, ProfileError
from bridge.inert import printable
from bridge.profile.listen import bind_cause, host_port, split_listen
from bridge.web import scrub, sse
from bridge.web.access import Access, cookie_name
from bridge.web.guard import Guard, Throttle
from bridge.web.holder import holder
from bridge.web.host import WebHost
from bridge.web.metrics import KioskMetrics

log = logging.getLogger("bridge.web")

RETRY_LISTEN_S = 5
WILDCARDS = ("0.0.0.0", "::", "")  # every address: no browser opens these
RETRIED = (errno.EADDRINUSE, errno.EADDRNOTAVAIL)  # taken, or not (yet) this machine's


def retried(exc: OSError) -> bool:
    """An address taken, not this machine's yet, or a name not resolvable yet (at boot)."""
    if isinstance(exc, socket.gaierror):
        return exc.errno == socket.EAI_AGAIN
    return exc.errno in RETRIED
SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _page() -> tuple[bytes, str]:
    """The page, and its Content-Security-Policy (its one inline script by hash)."""
    html = resources.files("bridge.web").joinpath("kiosk.html").read_text("utf-8")
    match = SCRIPT.search(html)
    assert match is not None, "kiosk.html has its script inline"
    digest = base64.b64encode(hashlib.sha256(match.group(1).encode()).digest()).decode()
    csp = (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
           f"connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
           f"frame-ancestors 'none'")
    return html.encode(), csp


def public_state(snapshot: dict[str, Any]) -> dict[str, Any]:
    """What the screen may know of `ctl status`: no ids beyond the short one, no devices."""
    call = snapshot.get("call")
    spending = snapshot.get("spending") or {}
    return {"profile": snapshot.get("profile"), "mode": snapshot.get("mode"),
            "state": snapshot.get("state"), "paused": bool(spending.get("limitReached")),
            "call": None if not call else {
                "id": call.get("id"), "live": call.get("live"), "status": call.get("status"),
                "elapsedSeconds": call.get("elapsedSeconds"),
                "endedReason": call.get("endedReason"), "link": call.get("link"),
                "stalledSeconds": call.get("stalledSeconds")}}


class WebServer:
    def __init__(self, host: WebHost, listen: str, token: str | None) -> None:
        self.host = host
        self.address, self.port = split_listen(listen)
        self.guard = Guard(Throttle())
        self.access = Access(token, self.guard, cookie_name(self.port))
        self.metrics = KioskMetrics(host)
        self.stopping = asyncio.Event()
        self.page, self.csp = _page()
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.AbstractServer | None = None
        self._retry: asyncio.Task[None] | None = None
        self._refused: str | None = None  # why it is not listening yet (the OS's words)
        self._holder: str | None = None  # another kiosk's screen held the port (`holder`)
        self._watchers: list[Callable[[], None]] = []  # told as `serving()` moves
        self._unlisten = host.events.listen(self.metrics.on_event)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.access.middleware], client_max_size=4096)
        app.router.add_get("/", self.index)
        app.router.add_get("/state", self.state)
        app.router.add_get("/events", self.events, allow_head=False)  # a stream: GET only
        app.router.add_get("/metrics", self.scrape)
        app.router.add_post("/call", self.call)
        app.router.add_post("/end", self.end)
        return app

    async def start(self) -> None:
        """Listen on `http.listen`. An address another process holds, or one this machine
        does not have yet (a kiosk's LAN address before its network is up at boot), leaves
        the kiosk running without its screen and metrics, trying again every
        `RETRY_LISTEN_S` (a warning, then an info line once served): the screen is
        optional, the visitor's calls are not. Any other refusal (a port below 1024, an
        address of the wrong family) is the profile's error."""
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0,
                                     **self.guard.runner_options())
        await self._runner.setup()
        try:
            await self._listen()
        except OSError as exc:
            if not retried(exc):
                await self._runner.cleanup()
                self._unlisten()
                raise ProfileError(f"http.listen: cannot listen on {self._where}: "
                                   f"{bind_cause(exc)} — choose another port or "
                                   f"address") from None
            self._refused = bind_cause(exc)
            if exc.errno == errno.EADDRINUSE and (other := await holder(self.address,
                                                                        self.port)):
                self._holder = other
                fix = (f"give this profile ({self.host.snapshot().get('profile')}) an "
                       f"http.listen of its own: once that port is free this kiosk takes it, "
                       f"and a browser opened for the other shows this one")
                self._refused += f" ({other})"
            else:
                fix = "free the port or choose another"
            log.warning("http.listen: cannot listen on %s: %s — the kiosk runs without its "
                        "screen and metrics, trying again every %d s (%s)", self._where,
                        self._refused, RETRY_LISTEN_S, fix)
            self._retry = asyncio.create_task(self._listen_later())

    @property
    def _where(self) -> str:
        return host_port(self.address, self.port)

    def serving(self) -> dict[str, Any]:
        """For `ctl status`: where the screen and /metrics are served, or why not yet."""
        return {"listen": self._where, "served": self._listener is not None,
                "url": self.url if self._listener else None,
                "error": self._refused, "retrySeconds": RETRY_LISTEN_S}

    def watch(self, changed: Callable[[], None]) -> None:
        """`changed()` called as the retried address is served, or refused for another
        cause (systemd's STATUS= line says it: `bridge.service.screen`)."""
        self._watchers.append(changed)

    def _changed(self) -> None:
        for changed in self._watchers:
            changed()

    @property
    def url(self) -> str:
        """Where a browser finds the screen: on this machine, for an address that is every
        address (`0.0.0.0`, `::`), which no browser opens; others reach it by this
        machine's own address."""
        if self.address in WILDCARDS:
            local = "[::1]" if ":" in self.address else "127.0.0.1"
            return f"http://{local}:{self.port}/ (every address: from elsewhere, this " \
                   f"machine's own, port {self.port})"
        return f"http://{self._where}/"

    async def _listen(self) -> None:
        assert self._runner is not None and self._runner.server is not None
        # the socket served through `guard`'s connection limits
        self._listener = await asyncio.get_running_loop().create_server(
            self.guard.factory(self._runner.server), self.address, self.port,
            backlog=128)  # as aiohttp's own sites
        self._refused = None
        if self._holder:  # the port another kiosk's screen had: its browser shows this one
            log.warning("http: the kiosk screen is at %s now, on the port %s held: a "
                        "browser opened for that kiosk shows this one", self.url, self._holder)
            return
        log.info("http: the kiosk screen is at %s", self.url)

    async def _listen_later(self) -> None:
        while True:
            await asyncio.sleep(RETRY_LISTEN_S)
            before = self._refused
            try:
                await self._listen()
            except OSError as exc:
                self._refused = bind_cause(exc) + (f" ({self._holder})" if self._holder
                                                   else "")
                log.debug("http.listen: still cannot listen: %s", self._refused)
                if self._refused != before:
                    self._changed()
                continue
            self._changed()
            return

    async def stop(self) -> None:
        self.stopping.set()  # ends the event streams
        self._unlisten()
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry
            self._retry = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def index(self, request: web.Request) -> web.Response:
        return web.Response(body=self.page, content_type="text/html", charset="utf-8",
                            headers={"Content-Security-Policy": self.csp,
                                     "Cache-Control": "no-store",
                                     "X-Content-Type-Options": "nosniff",
                                     "Referrer-Policy": "no-referrer"})

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response(scrub.values(public_state(self.host.snapshot())),
                                 headers={"Cache-Control": "no-store"})

    async def events(self, request: web.Request) -> web.StreamResponse:
        return await sse.stream(request, self.host, self.stopping)

    async def scrape(self, request: web.Request) -> web.Response:
        body, content_type = self.metrics.exposition(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type,
                                                "Cache-Control": "no-store"})

    async def call(self, request: web.Request) -> web.Response:
        refused = self.host.request_call("http")
        if refused:
            limit = refused.startswith("spending limit ")  # (spending.refusal)
            return web.json_response({"ok": False, "error": refused, **(
                {"cause": "spending-limit"} if limit else {})}, status=409)
        return web.json_response({"ok": True, "message": "call requested"}, status=202)

    async def end(self, request: web.Request) -> web.Response:
        """As `ctl end`: the call is asked to end, and the answer waits for it."""
        try:
            message = await hang_up(self.host.call)
        except NoCall:  # (not which call ended how: a visitor reads it)
            return web.json_response({"ok": False, "error": "no call in progress"}, status=409)
        except BridgeError as exc:
            return web.json_response({"ok": False, "error": printable(str(exc), 300)}, status=409)
        return web.json_response({"ok": True, "message": message})
