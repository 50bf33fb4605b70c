"""The simulator's assistant store: ``GET /assistant/{id}``, and which ``assistantId`` a
``POST /call`` may name. Every known id is the simulator's one configured assistant."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from bridge.sim import schema
from bridge.sim.assistants import make_assistant
from bridge.sim.calls import iso
from bridge.sim.context import SimContext, json_error

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def known(ctx: SimContext, assistant_id: str) -> bool:
    return assistant_id in ctx.config.assistant_ids


def lookup_refusal(ctx: SimContext, assistant_id: str) -> web.Response | None:
    """GET /assistant/{id} for an id the store lacks: 400 when it is not a UUID (NestJS
    ParseUUIDPipe on the path parameter), else 404."""
    if known(ctx, assistant_id):
        return None
    if not UUID.match(assistant_id):
        return json_error(400, "Validation failed (uuid is expected)", "Bad Request")
    return json_error(404, "Not Found", "Not Found")


def unknown_assistant(assistant_id: str) -> web.Response:
    """POST /call naming an assistant the account does not have (Vapi's words)."""
    return json_error(
        400, f"Couldn't Get Assistant. `assistantId` {assistant_id} Does Not Exist.", "Bad Request"
    )


def assistant_object(ctx: SimContext, assistant_id: str) -> dict[str, Any]:
    spec = ctx.config.assistant_spec
    first = ctx.config.first_message
    if first is None:
        first = make_assistant(spec, ctx).default_first_message
    obj: dict[str, Any] = {
        "id": assistant_id,
        "orgId": "sim-org",
        "name": f"vapi-bridge-sim {spec.label}",
        "firstMessage": first or "",
        "firstMessageMode": "assistant-speaks-first",
        "clientMessages": list(schema.defaults("clientMessages")
                               if ctx.config.assistant_client_messages is None
                               else ctx.config.assistant_client_messages),
        "maxDurationSeconds": ctx.config.default_max_duration,
        "model": {"provider": "custom-llm", "model": f"sim-{spec.kind}"},
        "voice": {"provider": "vapi", "voiceId": "Elliot"},
        "transcriber": {"provider": "deepgram", "model": "nova-3", "language": "en"},
        "latestVersion": None,
        "createdAt": iso(ctx.started),
        "updatedAt": iso(ctx.started),
    }
    allowed = schema.keys("Assistant")
    return {k: v for k, v in obj.items() if k in allowed}
