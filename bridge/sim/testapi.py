"""``/_sim/...``: what the simulator saw and sent on each call (no auth; for tests)."""

from __future__ import annotations

import io
import math
import wave
from typing import Any

from aiohttp import web

from bridge.sim.calls import CallRecord
from bridge.sim.context import ctx_of, find_call, json_error


def report(rec: CallRecord) -> dict[str, Any]:
    up = rec.uplink
    session = rec.session
    return {
        "id": rec.id,
        "status": rec.status,
        "endedReason": rec.ended_reason,
        "format": rec.fmt.encoding,
        "sampleRate": rec.fmt.rate,
        "assistant": rec.assistant.label,
        "faults": rec.faults.names(),
        "options": {
            "firstMessage": rec.options.first_message,
            "firstMessageInterruptionsEnabled": rec.options.first_message_interruptions,
            "maxDurationSeconds": rec.options.max_duration,
            "silenceTimeoutSeconds": rec.options.silence_timeout,
            "listenAuthenticationEnabled": rec.options.listen_auth,
            "controlAuthenticationEnabled": rec.options.control_auth,
            "clientMessages": rec.options.client_messages,
        },
        "requestHeaders": rec.request_headers,
        "createBody": rec.create_body,
        "uplink": {
            "frames": up.frames,
            "frameBytes": up.frame_bytes,
            "arrivalMonotonic": up.arrival_monotonic,
            "arrivalSeconds": up.arrival_seconds,
            "audioSeconds": round(up.samples / rec.fmt.rate, 6),
            "maxGapMs": round(up.max_gap_ms, 3),
            "textFrames": up.text_frames,
            "markers": [{k: v for k, v in m.items() if not k.startswith("_")} for m in up.markers],
        },
        "messagesReceived": rec.messages_received,
        "eventsSent": rec.events_sent,
        "faultFramesSent": rec.fault_frames_sent,
        "downlink": {
            "bytes": rec.downlink_bytes,
            "chunks": rec.downlink_chunks,
            "chunkBytes": rec.downlink_chunk_sizes,
            "audioSeconds": round(len(rec.downlink_pcm) / 2 / rec.fmt.rate, 6),
            "markers": rec.downlink_markers,
            # how far the stream ran ahead of real time (faster-than-real-time speech)
            "leadSeconds": round(session.lead_bytes / rec.fmt.byte_rate, 6)
            if session is not None else 0.0,
        },
        "state": {
            "assistantMuted": bool(session and session.mouth.muted),
            "customerMuted": bool(session and session.customer_muted),
            "assistantSpeaking": bool(session and session.mouth.speaking),
        },
        # where the listen mix left the customer silent (its uplink late), in the stream's
        # samples, where each listener's stream began, and how many samples it emitted in
        # all: a listener that joined at `j` and stayed to the end was given `emitted - j`
        # (`bridge.sim.listenmix`)
        "listen": {
            "emitted": rec.listen.emitted,
            "holes": rec.listen.holes,
            "holesNotKept": rec.listen.holes_lost,
            "droppedAhead": rec.listen.dropped_ahead,
            "joined": rec.listen.joined,
        },
        "controlRequests": rec.control_log,
        "lookups": rec.lookups,  # GET /call/{id} seen (fault lookup-500=N counts them)
        "handoffs": rec.handoffs,
        "connectedMonotonic": rec.connected_mono,
        "endedMonotonic": rec.ended_mono,
        "closeCode": rec.close_code,
    }


def wav_bytes(pcm: bytes | bytearray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(pcm))
    return buf.getvalue()


async def list_handler(request: web.Request) -> web.Response:
    calls = ctx_of(request).calls.calls
    return web.json_response({"calls": [{"id": c.id, "status": c.status} for c in calls.values()]})


async def call_handler(request: web.Request) -> web.Response:
    rec = find_call(request)
    if rec is None:
        return json_error(404, "Call not found", "Not Found")
    return web.json_response(report(rec))


async def wav_handler(request: web.Request) -> web.Response:
    rec = find_call(request)
    if rec is None:
        return json_error(404, "Call not found", "Not Found")
    pcm = rec.uplink_pcm if request.match_info["leg"] == "uplink" else rec.downlink_pcm
    return web.Response(body=wav_bytes(pcm, rec.fmt.rate), content_type="audio/wav")


async def info_handler(request: web.Request) -> web.Response:
    cfg = ctx_of(request).config
    return web.json_response(
        {
            "simulator": "vapi-bridge",
            "assistant": cfg.assistant,
            "faults": list(cfg.faults),
            "downlinkChunking": cfg.downlink_chunking,
            "downlinkSpeed": "whole" if math.isinf(cfg.downlink_speed) else cfg.downlink_speed,
        }
    )
