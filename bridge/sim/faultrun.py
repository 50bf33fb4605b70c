"""Faults acted out on a connected call socket (the timed ones)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bridge.sim import longcall, variants
from bridge.sim.events import MALFORMED_FRAMES
from bridge.sim.hostile import HOSTILE_FRAMES, OVERSIZED

if TYPE_CHECKING:
    from bridge.sim.port import CallPort

log = logging.getLogger("bridge.sim.faults")
DROP_REASON = "call.in-progress.error-vapifault-worker-died"


def start_socket_faults(s: CallPort) -> None:
    faults = s.rec.faults
    if (f := faults.get("ws-close-1006")) is not None:
        s.spawn(_abort_after(s, f.number(), f.at(0.0)))
    if (f := faults.get("ws-drop")) is not None:
        s.spawn(_blackhole(s, f.number(), f.at(10.0)))
    if (f := faults.get("power-cut")) is not None:
        s.linger_s = f.number()
    if (f := faults.get("malformed-json")) is not None:
        s.spawn(_malformed(s, f.number(1.0) or 1.0))
    if (f := faults.get("hostile-text")) is not None:
        s.spawn(_hostile(s, f.number(0.5)))
    if (f := faults.get("long-history")) is not None:
        s.spawn(_long_history(s, f.number(), f.at(0.0)))
    if (f := faults.get("schema-variants")) is not None:
        s.spawn(variants.send_variants(s, f.number(0.5)))
    if (f := faults.get("echo-secrets")) is not None:
        s.spawn(_echo_secrets(s, f.number(0.5)))
    if (f := faults.get("vapi-error")) is not None and f.arg:
        reason, _, at = f.arg.partition("@")
        s.spawn(_fail_after(s, reason, float(at or 1.0)))


async def _abort_after(s: CallPort, seconds: float, linger: float) -> None:
    """The TCP connection aborted at `seconds`: the call ends at once (Vapi's worker died),
    or (`linger` > 0: the network between, which Vapi has not noticed yet) stays in
    progress that long, then ends as the customer's."""
    await asyncio.sleep(seconds)
    if s.ended:
        return
    log.info("call %s: fault ws-close-1006: aborting TCP without a close frame", s.rec.id)
    if linger > 0:
        s.linger_s = linger
    else:
        s.end(DROP_REASON, notify=False)
    s.outbox.abort(1006)


async def _fail_after(s: CallPort, reason: str, seconds: float) -> None:
    """Vapi's side fails at `seconds` (a provider, the worker, the start): it ends the call
    with `reason`, telling the client as for any other end."""
    await asyncio.sleep(seconds)
    if not s.ended:
        log.info("call %s: fault vapi-error: ending the call as %s", s.rec.id, reason)
        s.end(reason)


async def _blackhole(s: CallPort, seconds: float, hold: float) -> None:
    await asyncio.sleep(seconds)
    if s.ended:
        return
    log.info(
        "call %s: fault ws-drop: socket goes silent for %.1f s, then TCP abort", s.rec.id, hold
    )
    s.blackholed = True
    s.outbox.dead = True
    if s.pump is not None:
        s.pump.stop()
    try:
        await asyncio.sleep(hold)
    finally:
        s.end(DROP_REASON, notify=False)
        s.outbox.abort(1006)
        s.blackholed = False
        s.unblackhole.set()


async def _malformed(s: CallPort, period: float) -> None:
    i = 0
    while not s.ended:
        await asyncio.sleep(period)
        if s.ended:
            return
        s.outbox.raw(MALFORMED_FRAMES[i % len(MALFORMED_FRAMES)])
        i += 1


async def _hostile(s: CallPort, at: float) -> None:
    await asyncio.sleep(at)
    for frame in (OVERSIZED, *HOSTILE_FRAMES):
        if s.ended:
            return
        s.outbox.raw(frame)
        await asyncio.sleep(0.02)


async def _long_history(s: CallPort, kib: float, period: float) -> None:
    """`long-history=KIB[@SECONDS]`: the earlier turns made at once, off the loop (~0.2 s
    for a megabyte), then (`period` > 0) a conversation-update every `period` s too (a busy
    call's turns, each a frame of KIB KiB and more), whoever is speaking."""
    await asyncio.to_thread(longcall.earlier, kib)
    while period > 0 and not s.ended:
        await asyncio.sleep(period)
        if not s.ended:
            s.emit_conversation()


def echoed_secrets(s: CallPort) -> str:
    """What a server could echo of a call's bearer secrets, in one text."""
    urls = s.rec.urls()
    return (f"id {s.rec.id} ws {urls['websocketCallUrl']} listen {urls['listenUrl']} "
            f"control {urls['controlUrl']} key {s.cfg.api_key}")


async def _echo_secrets(s: CallPort, at: float) -> None:
    """A final transcript and a status that echo the call's secrets; the call then ends
    with them in its ended reason (said on the socket and by `GET /call/{id}`)."""
    await asyncio.sleep(at)
    if s.ended:
        return
    text = echoed_secrets(s)
    s.emit({"type": "transcript", "role": "assistant", "transcriptType": "final",
            "transcript": f"Your details: {text}"})
    s.emit({"type": "status-update", "status": f"in-progress {text}"})
    s.emit({"type": "tool-calls", "toolCallList": [{"id": "call_echo", "type": "function",
            "function": {"name": "lookup", "arguments": {"q": text}}}]})
    await asyncio.sleep(0.5)
    s.end(f"assistant-ended-call {text}")
