"""The aiohttp application, the in-process ``Simulator`` and ``run_in_thread``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from bridge.sim import control, listen, rest, testapi, transport
from bridge.sim.config import SimConfig
from bridge.sim.context import SIM_KEY, SimContext

log = logging.getLogger("bridge.sim")


@web.middleware
async def client_gone(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    """A client that resets (or closes) its connection while its request is read, a POST's
    body half sent, is one line in the log: aiohttp logged the handler's
    ConnectionResetError as an error, with its traceback. The answer goes nowhere (aiohttp
    drops a response it cannot write)."""
    try:
        return await handler(request)
    except ConnectionResetError as exc:
        if request.transport is not None and not request.transport.is_closing():
            raise  # not this request's client: an error of the simulator's own
        route = request.match_info.route.resource
        where = route.canonical if route is not None else "?"  # no call id
        log.info("%s %s: the client went away before its request was read (%s)",
                 request.method, where, exc.strerror or exc)
        return web.Response(status=499)  # nginx's "client closed request"


def build_app(ctx: SimContext) -> web.Application:
    app = web.Application(client_max_size=1 << 20, middlewares=[client_gone])
    app[SIM_KEY] = ctx
    app.router.add_post("/call", rest.create_call)
    app.router.add_get("/call", rest.list_calls)
    app.router.add_get("/call/{call_id}", rest.get_call)
    app.router.add_get("/assistant/{assistant_id}", rest.get_assistant)
    app.router.add_get("/_sim", testapi.info_handler)
    app.router.add_get("/_sim/calls", testapi.list_handler)
    app.router.add_get("/_sim/calls/{call_id}", testapi.call_handler)
    app.router.add_get("/_sim/calls/{call_id}/{leg:uplink|downlink}.wav", testapi.wav_handler)
    app.router.add_get("/{call_id}/transport", transport.transport_handler)
    app.router.add_get("/{call_id}/listen", listen.listen_handler)
    app.router.add_post("/{call_id}/control", control.control_handler)
    return app


class Simulator:
    """The simulator on the running event loop: ``async with Simulator(cfg) as sim``."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.ctx = SimContext(self.config)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def base_url(self) -> str:
        host = self.config.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.config.tls_cert else 'http'}://{host}:{self.port}"

    async def start(self) -> Simulator:
        self._runner = web.AppRunner(
            build_app(self.ctx), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port,
                           ssl_context=self._tls())
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else self.config.port
        log.info("simulator listening on %s (assistant %s)", self.base_url, self.config.assistant)
        return self

    def _tls(self) -> ssl.SSLContext | None:
        if self.config.tls_cert is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        return context

    async def stop(self) -> None:
        if self._runner is None:
            return
        await self.ctx.shutdown()
        await self._runner.cleanup()
        self._runner = None

    def report(self, call_id: str) -> dict[str, Any] | None:
        rec = self.ctx.calls.get(call_id)
        return None if rec is None else testapi.report(rec)

    @property
    def call_ids(self) -> list[str]:
        return list(self.ctx.calls.calls)

    def send_text(self, call_id: str, frames: list[str]) -> bool:
        """Send raw text frames on a connected call socket, in order, after what is queued
        (for fuzz tests: any text, valid JSON or not). False if the call is not connected."""
        rec = self.ctx.calls.get(call_id)
        if rec is None or rec.session is None or rec.session.ended:
            return False
        for frame in frames:
            rec.session.send_raw(frame)
        return True

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class SimHandle:
    """A simulator running on its own event loop in a daemon thread."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.simulator: Simulator | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="vapi-sim", daemon=True)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self.simulator = loop.run_until_complete(Simulator(self.config).start())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.simulator.stop())
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def start(self, timeout: float = 15.0) -> SimHandle:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("simulator did not start in time")
        if self._error is not None:
            raise RuntimeError(f"simulator failed to start: {self._error}") from self._error
        return self

    @property
    def base_url(self) -> str:
        assert self.simulator is not None
        return self.simulator.base_url

    @property
    def port(self) -> int:
        assert self.simulator is not None
        return self.simulator.port

    def report(self, call_id: str) -> dict[str, Any] | None:
        assert self.simulator is not None and self._loop is not None
        fut = asyncio.run_coroutine_threadsafe(self._report(call_id), self._loop)
        return fut.result(10)

    async def _report(self, call_id: str) -> dict[str, Any] | None:
        assert self.simulator is not None
        return self.simulator.report(call_id)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> SimHandle:
        if not self._thread.is_alive() and self.simulator is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and collect the handlers still running (a held ``http-hang``, a socket in a
    ``connect-delay``), so closing the loop destroys no pending task (as ``asyncio.run``)."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.wait(pending, timeout=2.0))


def run_in_thread(config: SimConfig | None = None) -> SimHandle:
    """Start a simulator in a daemon thread; returns once it listens."""
    return SimHandle(config or SimConfig()).start()
