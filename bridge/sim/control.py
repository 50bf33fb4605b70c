"""``POST /<id>/control``: live call control over plain HTTP, as Vapi answers it.

Every response takes 0.2–0.3 s (``control-slow=MS``: MS ms more) and closes the
connection. A call that is unknown, has
control disabled, is not yet connected or has ended gets 400 (not 404). 200 means
*accepted*: a ``say`` is spoken when the call's faults say (``say-late``: 0.3–10 s later;
``say-lost``: never, with no error event) and sends no ``assistant.speechStarted``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any

from aiohttp import web

from bridge.sim.calls import CallRecord, LiveCall
from bridge.sim.commands import validate
from bridge.sim.context import bearer_ok, ctx_of, find_call, json_error

log = logging.getLogger("bridge.sim.control")
LATENCY_S = (0.2, 0.3)
SAY_LATE_S = (0.3, 10.0)


def _closing(resp: web.Response) -> web.Response:
    resp.headers["Connection"] = "close"
    resp.force_close()
    return resp


def _no_call(status: str) -> web.Response:
    return _closing(json_error(400, f"No active call to control (status: {status})",
                               "Bad Request"))


async def control_handler(request: web.Request) -> web.Response:
    await asyncio.sleep(random.uniform(*LATENCY_S))
    rec = find_call(request)
    slow = rec.faults.get("control-slow") if rec is not None else None
    if slow is not None:
        await asyncio.sleep(slow.number() / 1000.0)
    down = rec.faults.get("control-down") if rec is not None else None
    if rec is not None and down is not None:
        rec.control_down += 1
        if down.arg is None or rec.control_down <= down.number():
            rec.control_log.append({"at": rec.since_connect(), "message": {},
                                    "problem": None, "dropped": "control-down"})
            log.info("call %s: control request dropped (control-down)", rec.id)
            await asyncio.sleep(ctx_of(request).config.http_hang_seconds)
            assert request.transport is not None
            request.transport.abort()  # nothing answered, nothing done
            return web.Response(status=204)
    if rec is None or not rec.options.control_enabled:
        return _no_call("not found")
    if rec.options.control_auth and not bearer_ok(request, ctx_of(request).config.public_key):
        return _closing(json_error(401, "Unauthorized", "Unauthorized"))
    raw = await request.text()
    try:
        msg = json.loads(raw)
    except ValueError:
        return _closing(json_error(400, "Invalid JSON body", "Bad Request"))
    at = rec.since_connect()
    rec.messages_received.append({"at": at, "source": "control", "message": msg})
    problem = validate(msg)
    entry: dict[str, Any] = {"at": at, "message": msg, "status": rec.status, "problem": problem}
    rec.control_log.append(entry)
    if problem:
        return _closing(json_error(400, problem, "Bad Request"))
    session = rec.session
    if rec.status not in ("in-progress", "forwarding") or session is None or session.ended:
        log.info("call %s: control %s refused (status %s)", rec.id, msg.get("type"), rec.status)
        return _no_call(rec.status)
    if msg["type"] == "say":
        _deliver_say(rec, session, msg, entry)
    else:
        session.command(msg, via="control")
    return _closing(web.json_response({"ok": True}))


def _deliver_say(rec: CallRecord, session: LiveCall, msg: dict[str, Any],
                 entry: dict[str, Any]) -> None:
    lost, late = rec.faults.get("say-lost"), rec.faults.get("say-late")
    says = sum(1 for e in rec.control_log if e["message"].get("type") == "say"
               and not e["problem"])
    if lost is not None and (lost.arg is None or says <= lost.number()):
        entry["delivery"] = "lost"
        log.info("call %s: control say accepted and dropped (say-lost)", rec.id)
        return
    if late is None:
        session.command(msg, via="control")
        return
    delay = late.number() / 1000.0 if late.arg else session.rng.uniform(*SAY_LATE_S)
    entry["delivery"] = f"late {delay:.2f} s"

    async def later() -> None:
        await asyncio.sleep(delay)
        if not session.ended:
            session.command(msg, via="control")

    session.spawn(later())
