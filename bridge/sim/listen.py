"""``/<id>/listen``: both legs live as interleaved stereo s16le (16 kHz by default),
mixed by :class:`bridge.sim.listenmix.ListenHub`.

Channel 0 (left) = customer (the uplink the client sent), channel 1 (right) = assistant
(the downlink the simulator sent); the ``listen-swap`` fault swaps them. The first frame
is a JSON text frame describing the stream, as Vapi's ``{"type": "start", "encoding":
"linear16", …, "channels": 2}``; the ``listen-no-start`` fault leaves it out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web

from bridge.sim.context import bearer_ok, ctx_of, dumps, find_call, json_error

log = logging.getLogger("bridge.sim.listen")


async def listen_handler(request: web.Request) -> web.StreamResponse:
    rec = find_call(request)
    if rec is None or not rec.options.listen_enabled:
        return json_error(404, "Call not found", "Not Found")
    if rec.options.listen_auth and not bearer_ok(request, ctx_of(request).config.public_key):
        return json_error(401, "Unauthorized", "Unauthorized")
    if rec.ended:
        return json_error(410, "Call has ended", "Gone")
    ws = web.WebSocketResponse(compress=False, autoping=True)
    await ws.prepare(request)
    log.info("call %s: listener connected", rec.id)
    hub = rec.listen
    q = hub.add()

    async def drain_client() -> None:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                log.debug("call %s: listener sent %r", rec.id, msg.data[:200])

    reader = asyncio.get_running_loop().create_task(drain_client())
    try:
        if "listen-no-start" not in rec.faults:
            start = hub.start_frame()
            announced = rec.faults.get("listen-encoding")
            if announced is not None and announced.arg:
                start["encoding"] = announced.arg
            await ws.send_str(dumps(start))
        while True:
            getter = asyncio.ensure_future(q.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            data = getter.result()
            if data is None:
                break
            await ws.send_bytes(data)
    except (ConnectionError, RuntimeError):
        pass
    finally:
        hub.remove(q)
        with contextlib.suppress(Exception):
            await ws.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        log.info("call %s: listener closed", rec.id)
    return ws
