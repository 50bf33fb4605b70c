"""The REST API: POST /call, GET /call/{id}, GET /call, GET /assistant/{id}."""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from bridge.sim import catalog
from bridge.sim.calls import CallRecord, new_call_id
from bridge.sim.config import parse_assistant
from bridge.sim.context import SimContext, bearer_ok, ctx_of, find_call, json_error
from bridge.sim.faults import CREATED_FAULTS, HTTP_FAULTS, Fault, FaultSet, parse_faults
from bridge.sim.hostile import HOSTILE_ID
from bridge.sim.listenmix import ListenHub
from bridge.sim.listquery import parse_list_query
from bridge.sim.validation import call_options, system_prompt, validate_body, wire_format

log = logging.getLogger("bridge.sim.rest")

INVALID_KEY = (
    "Invalid Key. Hot tip, you may be using the private key instead of the public "
    "key, or vice versa."
)
CONCURRENCY_LIMIT = 10
PORTAL_PAGE = ("<!DOCTYPE html>\n<html><head><title>Guest Wi-Fi</title></head><body><h1>Welcome"
               "</h1><form method=post>Accept the terms <button>Connect</button></form>"
               "</body></html>\n")


def unauthorized() -> web.Response:
    return json_error(401, INVALID_KEY, "Unauthorized")


def request_faults(request: web.Request) -> list[Fault]:
    specs = list(request.query.getall("fault", []))
    if "X-Sim-Fault" in request.headers:
        specs.append(request.headers["X-Sim-Fault"])
    return list(parse_faults(specs))


def _fault_response(status: int) -> web.Response:
    if status == 400:
        return json_error(
            400, ["simulated fault: this request was refused (http-400)"], "Bad Request"
        )
    if status == 401:
        return unauthorized()
    if status == 402:
        return web.json_response(
            {
                "statusCode": 402,
                "message": "Your account does not have enough "
                "credits to make this call (simulated).",
                "reason": "insufficient_credits",
                "error": "Payment Required",
            },
            status=402,
        )
    if status == 403:
        return web.Response(status=403, text="error code: 1010")
    if status == 429:
        return web.Response(status=429, text="Rate limit exceeded")
    return web.json_response({"statusCode": 500, "message": "Internal server error"}, status=500)


def _active_fault(ctx: SimContext, faults: list[tuple[str, Fault]],
                  names: tuple[str, ...]) -> Fault | None:
    """The first of `names` still active (``=N``: only the first N attempts), counted."""
    for source, fault in faults:
        if fault.name not in names:
            continue
        key = f"{source}:{fault.raw}"
        ctx.attempts[key] = ctx.attempts.get(key, 0) + 1
        if fault.arg is not None and ctx.attempts[key] > fault.number():
            continue
        log.info("POST /call: fault %s (attempt %d)", fault.raw, ctx.attempts[key])
        return fault
    return None


async def _http_fault(ctx: SimContext, faults: list[tuple[str, Fault]]) -> web.Response | None:
    """An http-* fault: the request is answered before any call is created."""
    fault = _active_fault(ctx, faults, HTTP_FAULTS)
    if fault is None:
        return None
    if fault.name == "http-hang":
        await asyncio.sleep(ctx.config.http_hang_seconds)
        return web.Response(status=524, text="error code: 524")
    if fault.name == "http-portal":
        return web.Response(text=PORTAL_PAGE, content_type="text/html")
    if fault.name == "http-302":
        raise web.HTTPFound("http://login.guest-wifi.example/portal?continue=api")
    return _fault_response(int(fault.name.split("-")[1]))


async def _created_fault(request: web.Request, fault: Fault) -> web.Response:
    """A created-* fault: the call exists, but the client never gets the 201."""
    if fault.name == "created-drop":
        assert request.transport is not None
        request.transport.abort()  # TCP gone, nothing answered
        return web.Response(status=204)
    if fault.name == "created-hang":
        await asyncio.sleep(ctx_of(request).config.http_hang_seconds)
        return web.Response(status=524, text="error code: 524")
    return _fault_response(500)


async def create_call(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    ua = request.headers.get("User-Agent", "")
    if not ua.strip() or ua.startswith("Python-urllib/"):
        log.info("POST /call refused: User-Agent %r (CDN rule 1010)", ua[:60])
        return web.Response(status=403, text="error code: 1010")
    try:
        per_call = request_faults(request)
    except ValueError as exc:
        return json_error(400, [f"sim: {exc}"], "Bad Request")
    sources = [("global", f) for f in ctx.config.parsed_faults]
    sources += [("request", f) for f in per_call]
    response = await _http_fault(ctx, sources)
    if response is not None:
        return response
    if not bearer_ok(request, ctx.config.api_key):
        log.info("POST /call refused: bad or missing private key")
        return unauthorized()
    raw = await request.text()
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError as exc:
        return json_error(400, f"Unexpected token in JSON: {exc}", "Bad Request")
    errors = validate_body(body, ctx.config)
    if errors:
        log.info("POST /call: 400 (%d problems)", len(errors))
        return json_error(400, errors, "Bad Request")
    assert isinstance(body, dict)
    if isinstance(body.get("assistantId"), str) and not catalog.known(ctx, body["assistantId"]):
        log.info("POST /call: 400 (unknown assistantId)")
        return catalog.unknown_assistant(body["assistantId"])
    faults = FaultSet(ctx.config.parsed_faults).merged(per_call)
    spec = ctx.config.assistant_spec
    override = request.query.get("assistant") or request.headers.get("X-Sim-Assistant")
    if override:
        try:
            spec = parse_assistant(override)
        except ValueError as exc:
            return json_error(400, [f"sim: {exc}"], "Bad Request")
    fmt = wire_format(body)
    headers = {
        k: ("<redacted>" if k.lower() == "authorization" else v) for k, v in request.headers.items()
    }
    rec = CallRecord(
        id=new_call_id(),
        host=request.host,
        secure=request.secure,
        fmt=fmt,
        assistant=spec,
        options=call_options(body, ctx.config),
        faults=faults,
        create_body=body,
        request_headers=headers,
        listen=ListenHub(fmt.rate, ctx.config.listen_rate, swap="listen-swap" in faults),
    )
    prompt = system_prompt(body, spec.kind)
    rec.add_message("system", prompt, rec.created_wall + 0.05)
    rec.conversation.append({"role": "system", "content": prompt})
    ctx.calls.add(rec)
    ctx.spawn(_never_connected(ctx, rec))
    log.info(
        "call %s created (%s %d Hz, assistant %s%s)",
        rec.id,
        fmt.encoding,
        fmt.rate,
        spec.label,
        f", faults {','.join(faults.names())}" if faults.names() else "",
    )
    late = _active_fault(ctx, sources, CREATED_FAULTS)
    if late is not None:
        return await _created_fault(request, late)
    remaining = max(0, CONCURRENCY_LIMIT - ctx.calls.active())
    obj = rec.call_object(for_get=False, remaining=remaining, limit=CONCURRENCY_LIMIT)
    if "created-hostile-id" in faults:
        obj["id"] = HOSTILE_ID
    return web.json_response(obj, status=201)


async def _never_connected(ctx: SimContext, rec: CallRecord) -> None:
    await asyncio.sleep(ctx.config.never_connected_timeout)
    if rec.status == "queued" and rec.session is None:
        rec.mark_ended("call.in-progress.error-vapifault-transport-never-connected")
        log.info("call %s: transport never connected", rec.id)


async def get_call(request: web.Request) -> web.Response:
    if not bearer_ok(request, ctx_of(request).config.api_key):
        return unauthorized()
    rec = find_call(request)
    if rec is None:
        return json_error(404, "Call not found", "Not Found")
    rec.lookups += 1
    if (slow := rec.faults.get("lookup-slow")) is not None:
        await asyncio.sleep(slow.number() / 1000)
    if (down := rec.faults.get("lookup-500")) is not None and (
            down.arg is None or rec.lookups <= down.number()):
        return _fault_response(500)
    return web.json_response(rec.call_object(for_get=True))


async def list_calls(request: web.Request) -> web.Response:
    """``GET /call`` as Vapi's schema has it: filters by id, assistantId, phoneNumberId and
    createdAt/updatedAt bounds, newest first, at most ``limit`` (default 100, 0..1000)."""
    ctx = ctx_of(request)
    if not bearer_ok(request, ctx.config.api_key):
        return unauthorized()
    if "list-500" in ctx.faults:
        return _fault_response(500)
    if "list-hang" in ctx.faults:
        await asyncio.sleep(ctx.config.http_hang_seconds)
        return web.Response(status=524, text="error code: 524")
    if "list-400" in ctx.faults:
        return json_error(400, ["limit must not be greater than 100"], "Bad Request")
    query, errors = parse_list_query(request.query)
    if errors:
        return json_error(400, errors, "Bad Request")
    calls = [c for c in ctx.calls.calls.values() if query.matches(c)]
    calls.sort(key=lambda c: c.created_wall, reverse=True)
    return web.json_response([c.call_object(for_get=True) for c in calls[: query.limit]])


async def get_assistant(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    if not bearer_ok(request, ctx.config.api_key):
        return unauthorized()
    assistant_id = request.match_info["assistant_id"]
    refusal = catalog.lookup_refusal(ctx, assistant_id)
    return refusal or web.json_response(catalog.assistant_object(ctx, assistant_id))
