"""POST /call body validation, answering like Vapi's NestJS validators.

Property names are checked against the key sets of Vapi's published schema
(:mod:`bridge.sim.schema`): an unknown key is a 400 "property X should not exist", nested
ones prefixed with their parent's path as NestJS does ("assistantOverrides.property X …").
A body these checks pass is then checked against the whole of the schema's `CreateCallDTO`
(:mod:`bridge.sim.schema_deep`): nested objects, types, enums, ranges, lengths.
"""

from __future__ import annotations

from typing import Any

from bridge.sim import schema, schema_deep
from bridge.sim.calls import CallOptions
from bridge.sim.config import SimConfig
from bridge.sim.variables import render, variable_values
from bridge.sim.wirecodec import DEFAULT_RATES, FORMATS, WireFormat

SOURCES = ("assistantId", "assistant", "squadId", "squad", "workflowId", "workflow")
REJECTED = ("phoneNumber", "phoneNumberId", "customer", "customers", "customerId")
FIRST_MESSAGE_MODES = (
    "assistant-speaks-first",
    "assistant-waits-for-user",
    "assistant-speaks-first-with-model-generated-message",
)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def unknown_keys(obj: dict[str, Any], component: str, where: str = "") -> list[str]:
    """NestJS whitelist errors for the keys of ``obj`` the schema component lacks."""
    prefix = f"{where}." if where else ""
    allowed = schema.keys(component)
    return [f"{prefix}property {k} should not exist" for k in obj if k not in allowed]


def _check_client_messages(cm: Any, where: str) -> list[str]:
    if not isinstance(cm, list) or not all(isinstance(x, str) for x in cm):
        return [f"{where}.clientMessages must be an array of strings"]
    values = schema.enum("clientMessages")
    if any(x not in values for x in cm):
        return [f"{where}.each value in clientMessages must be one of the following values: "
                + ", ".join(values)]
    return []


def _check_assistant_fields(obj: dict[str, Any], where: str, strict: bool) -> list[str]:
    component = "AssistantOverrides" if where == "assistantOverrides" else "CreateAssistantDTO"
    errors = unknown_keys(obj, component, where)
    obj = {k: v for k, v in obj.items() if v is not None}  # null: not given (@IsOptional)
    if "firstMessage" in obj and not isinstance(obj["firstMessage"], str):
        errors.append(f"{where}.firstMessage must be a string")
    if "firstMessageMode" in obj and obj["firstMessageMode"] not in FIRST_MESSAGE_MODES:
        errors.append(
            f"{where}.firstMessageMode must be one of the following values: "
            + ", ".join(FIRST_MESSAGE_MODES)
        )
    for key, low, high in (("maxDurationSeconds", 10, 43200),):
        if key not in obj:
            continue
        v = obj[key]
        if not _is_num(v):
            errors.append(f"{where}.{key} must be a number conforming to the specified constraints")
        elif v < (low if strict else 0.1):
            errors.append(f"{where}.{key} must not be less than {low if strict else 0.1}")
        elif v > high:
            errors.append(f"{where}.{key} must not be greater than {high}")
    plan = obj.get("monitorPlan")
    if plan is not None:
        if not isinstance(plan, dict):
            errors.append(f"{where}.monitorPlan must be an object")
        else:
            errors += unknown_keys(plan, "MonitorPlan", f"{where}.monitorPlan")
            for key in (
                "listenEnabled",
                "controlEnabled",
                "listenAuthenticationEnabled",
                "controlAuthenticationEnabled",
            ):
                if key in plan and not isinstance(plan[key], bool):
                    errors.append(f"{where}.monitorPlan.{key} must be a boolean value")
    if "firstMessageInterruptionsEnabled" in obj and not isinstance(
        obj["firstMessageInterruptionsEnabled"], bool
    ):
        errors.append(f"{where}.firstMessageInterruptionsEnabled must be a boolean value")
    if obj.get("clientMessages") is not None:
        errors += _check_client_messages(obj["clientMessages"], where)
    return errors


def _check_transport(t: Any) -> list[str]:
    if not isinstance(t, dict):
        return ["transport.provider must be one of the following values: vapi.websocket"]
    errors = unknown_keys(t, "VapiWebsocketTransport", "transport")
    if t.get("provider") != "vapi.websocket":
        errors.append("transport.provider must be one of the following values: vapi.websocket")
    if "conversationType" in t and t["conversationType"] != "voice":
        errors.append("transport.conversationType must be one of the following values: voice")
    af = t.get("audioFormat")
    if af is None:
        return errors
    if not isinstance(af, dict):
        return [*errors, "transport.audioFormat must be an object"]
    errors += unknown_keys(af, "AudioFormat", "transport.audioFormat")
    if "format" in af and af["format"] not in FORMATS:
        errors.append(
            "transport.audioFormat.format must be one of the following values: "
            + ", ".join(FORMATS)
        )
    if "container" in af and af["container"] != "raw":
        errors.append("transport.audioFormat.container must be one of the following values: raw")
    if "sampleRate" in af:
        rate = af["sampleRate"]
        if not _is_int(rate):
            errors.append("transport.audioFormat.sampleRate must be an integer number")
        elif rate < 4000:
            errors.append("transport.audioFormat.sampleRate must not be less than 4000")
        elif rate > 192000:
            errors.append("transport.audioFormat.sampleRate must not be greater than 192000")
    return errors


def validate_body(body: Any, config: SimConfig) -> list[str]:
    """Every problem with a POST /call body (empty list: fine)."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    errors = unknown_keys(body, "CreateCallDTO")
    errors += [f"property {k} should not exist" for k in REJECTED if k in body]
    sources = [k for k in SOURCES if body.get(k) is not None]
    if not sources:
        errors.append(
            "Need Either `assistant`, `assistantId`, `squad`, `squadId`, `workflow`, "
            "or `workflowId`."
        )
    elif len(sources) > 1:
        errors.append(f"Only one of {', '.join(SOURCES)} may be given (got {', '.join(sources)}).")
    for key in ("assistantId", "squadId", "workflowId"):
        if key in body and (not isinstance(body[key], str) or not body[key]):
            errors.append(f"{key} must be a string")
    for key in ("assistant", "squad", "workflow", "assistantOverrides"):
        if key in body and not isinstance(body[key], dict):
            errors.append(f"{key} must be an object")
    version = body.get("assistantVersion")
    if version is not None and not isinstance(version, str):
        errors.append("assistantVersion must be a string")
    if "name" in body:
        if not isinstance(body["name"], str):
            errors.append("name must be a string")
        elif len(body["name"]) > 40:
            errors.append("name must be shorter than or equal to 40 characters")
    for key in ("assistant", "assistantOverrides"):
        if isinstance(body.get(key), dict):
            errors += _check_assistant_fields(body[key], key, config.strict_limits)
    errors += _check_transport(body.get("transport"))
    if errors:
        return errors
    deep = schema_deep.body_errors(body)  # the rest of the schema, at every depth
    return deep if config.strict_limits else [  # (tests' short calls: checked above)
        e for e in deep if ".maxDurationSeconds must not be less than" not in e]


def wire_format(body: dict[str, Any]) -> WireFormat:
    af = body.get("transport", {}).get("audioFormat") or {}
    encoding = af.get("format", "pcm_s16le")
    return WireFormat(encoding, int(af.get("sampleRate", DEFAULT_RATES[encoding])))


def call_options(body: dict[str, Any], config: SimConfig) -> CallOptions:
    """Inline assistant fields, then assistantOverrides on top."""
    merged: dict[str, Any] = {}
    for key in ("assistant", "assistantOverrides"):
        part = body.get(key)
        if isinstance(part, dict):
            for k, v in part.items():
                if v is None:  # not given (@IsOptional): an inline value stays
                    continue
                if k == "monitorPlan":  # null: as if absent (class-validator's @IsOptional)
                    merged[k] = {**(merged.get(k) or {}), **(v or {})}
                else:
                    merged[k] = v
    plan = merged.get("monitorPlan") or {}
    values, first = variable_values(body), merged.get("firstMessage")
    if first is None and values:  # the stored assistant's (--first-message) is filled too
        first = config.first_message
    return CallOptions(
        first_message=render(first, values),
        first_message_mode=merged.get("firstMessageMode", "assistant-speaks-first"),
        first_message_interruptions=merged.get("firstMessageInterruptionsEnabled", False),
        max_duration=float(merged.get("maxDurationSeconds", config.default_max_duration)),
        silence_timeout=config.default_silence_timeout,
        listen_enabled=plan.get("listenEnabled", True),
        control_enabled=plan.get("controlEnabled", True),
        listen_auth=plan.get("listenAuthenticationEnabled", False),
        control_auth=plan.get("controlAuthenticationEnabled", False),
        client_messages=merged.get("clientMessages", stored_client_messages(body, config)),
    )


def stored_client_messages(body: dict[str, Any], config: SimConfig) -> list[str] | None:
    """A call by assistantId gets the stored assistant's clientMessages (None: Vapi's
    default list)."""
    stored = config.assistant_client_messages
    return list(stored) if "assistantId" in body and stored is not None else None


def system_prompt(body: dict[str, Any], kind: str) -> str:
    model = (
        (body.get("assistant") or {}).get("model")
        if isinstance(body.get("assistant"), dict)
        else None
    )
    if isinstance(model, dict):
        for m in model.get("messages") or []:
            if (
                isinstance(m, dict)
                and m.get("role") == "system"
                and isinstance(m.get("content"), str)
            ):
                return render(m["content"], variable_values(body)) or ""
    return f"You are the vapi-bridge simulator's {kind} assistant."
