"""A command for the call with none in progress (`ctl say`, `mute-mic`, `end`, `listen`…)
is refused with how a call starts, in the daemon's mode, read from its status answer
(`Host.snapshot`): before, it said "no call in progress" and no more.

    no call in progress (call 0190b3c2 ended: customer-ended-call) — start one with
    `vapi-bridge ctl call`, the kiosk screen's Call button or the wake word 'hey_jarvis'

The kiosk screen's End is answered without it (`web.server`): the visitor reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.errors import BridgeError, NoCall
from bridge.inert import printable


def worded(exc: BridgeError, snapshot: Callable[[], dict[str, Any]]) -> str:
    """`exc`'s line, and for `NoCall` how a call starts (the snapshot read only then)."""
    if not isinstance(exc, NoCall):
        return str(exc)
    return f"{exc} — {how_a_call_starts(snapshot())}"


def how_a_call_starts(status: dict[str, Any]) -> str:
    """The fix for "no call in progress", from the daemon's status answer."""
    mode, state = status.get("mode"), printable(str(status.get("state") or ""), 200)
    refused = str((status.get("spending") or {}).get("refused") or "").split("; ")[0]
    if refused:  # asking is no use today
        return f"none can start now: {printable(refused, 300)}"
    if mode == "loop":
        return f"loop mode places the next one on its own: {state}"
    if mode == "standby":
        ways = ["`vapi-bridge ctl call`"]
        if (status.get("http") or {}).get("served"):
            ways.append("the kiosk screen's Call button")
        if status.get("wakeWord"):
            ways.append(f"the wake word {printable(str(status['wakeWord'].get('word')), 60)!r}")
        return "start one with " + (ways[0] if len(ways) == 1 else
                                    f"{', '.join(ways[:-1])} or {ways[-1]}")
    if status.get("call") is None:  # once: its one call is being placed
        return "once mode places its call as the daemon starts: try again in a moment"
    return "once mode's one call is over: `vapi-bridge run` places another"
