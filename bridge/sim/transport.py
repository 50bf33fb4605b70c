"""``/<id>/transport``: the call socket."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bridge.sim.context import ctx_of, find_call, json_error
from bridge.sim.session import CallSession

log = logging.getLogger("bridge.sim.transport")


async def transport_handler(request: web.Request) -> web.StreamResponse:
    rec = find_call(request)
    if rec is None:
        return json_error(404, "Call not found", "Not Found")
    if (delay := rec.faults.get("connect-delay")) is not None:
        log.info("call %s: fault connect-delay: holding the upgrade %s ms", rec.id, delay.arg)
        await asyncio.sleep(delay.number() / 1000)
        if request.transport is None or request.transport.is_closing():
            log.info("call %s: the client left during the held upgrade", rec.id)
            return web.Response(status=499)  # nobody reads it
    if rec.ended:
        log.info("call %s: socket refused, call already ended (%s)", rec.id,
                 rec.masked(rec.ended_reason or "", ctx_of(request).config))
        return json_error(410, f"Call has ended ({rec.ended_reason})", "Gone")
    if rec.session is not None:
        log.info("call %s: second socket refused", rec.id)
        return json_error(409, "Call transport already connected", "Conflict")
    ws = web.WebSocketResponse(compress=False, autoping=True, max_msg_size=1 << 20)
    await ws.prepare(request)
    log.info("call %s: socket connected (%s %d Hz)", rec.id, rec.fmt.encoding, rec.fmt.rate)
    session = CallSession(ctx_of(request), rec, ws, request)
    await session.run()
    return ws
