"""``POST /<id>/control``: live call control over plain HTTP (responses close the connection)."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from bridge.sim.commands import run, validate
from bridge.sim.context import bearer_ok, ctx_of, find_call, json_error

log = logging.getLogger("bridge.sim.control")


def _closing(resp: web.Response) -> web.Response:
    resp.headers["Connection"] = "close"
    resp.force_close()
    return resp


async def control_handler(request: web.Request) -> web.Response:
    rec = find_call(request)
    if rec is None or not rec.options.control_enabled:
        return _closing(json_error(404, "Call not found", "Not Found"))
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
    rec.control_log.append({"at": at, "message": msg, "status": rec.status, "problem": problem})
    if problem:
        return _closing(json_error(400, problem, "Bad Request"))
    session = rec.session
    if rec.status not in ("in-progress", "forwarding") or session is None or session.ended:
        log.info("call %s: control %s refused (status %s)", rec.id, msg.get("type"), rec.status)
        return _closing(
            json_error(409, f"Call is not in progress (status: {rec.status})", "Conflict")
        )
    run(session, msg)
    return _closing(web.json_response({"ok": True}))
