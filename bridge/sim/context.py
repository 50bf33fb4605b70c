"""Shared state of one running simulator, reachable from every handler."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from bridge.sim.calls import CallRecord, CallRegistry
from bridge.sim.config import SimConfig
from bridge.sim.faults import FaultSet
from bridge.sim.speech import Synth


class SimContext:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.faults = FaultSet(config.parsed_faults)
        self.calls = CallRegistry()
        self.synth = Synth(config.speech)
        self.started = time.time()  # the assistant store's createdAt
        self.attempts: dict[str, int] = {}  # http-* fault attempt counters, by source + spec
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def shutdown(self) -> None:
        for rec in self.calls.calls.values():
            if rec.session is not None:
                rec.session.shutdown()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


SIM_KEY: web.AppKey[SimContext] = web.AppKey("sim", SimContext)


def ctx_of(request: web.Request) -> SimContext:
    return request.app[SIM_KEY]


def json_error(status: int, message: Any, error: str, **extra: Any) -> web.Response:
    body = {"message": message, "error": error, "statusCode": status, **extra}
    return web.json_response(body, status=status)


def bearer_ok(request: web.Request, key: str) -> bool:
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    return scheme.lower() == "bearer" and token.strip() == key


def find_call(request: web.Request) -> CallRecord | None:
    return ctx_of(request).calls.get(request.match_info.get("call_id", ""))


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))
