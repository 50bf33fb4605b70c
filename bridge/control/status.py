"""The `status` answer: its call part, built by the daemon's end from the call, and its
lines for people, rendered by the `ctl` end (`--json` prints the answer itself).

Never a URL or a key; a live call's id is shortened (while the call lives its id opens it),
an ended call's is given in full (`callId`, for support and `listen --call-id`); devices are
named as the profile names them. The daemon's own part (profile, state, devices, playout,
transcript) comes from `Host.snapshot`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bridge.words import ROLE_NAMES

if TYPE_CHECKING:  # `ctl` reads this module: it need not load the call's stack
    from bridge.call.lifecycle import Call


def call_part(call: Call | None, controls: Mapping[str, bool]) -> dict[str, Any] | None:
    """The call's part of `status`; `controls`: what this daemon asked Vapi to mute."""
    if call is None:
        return None
    return {
        "id": call.short_id, "status": call.status, "live": not call.done,
        "callId": call.info.id if call.info is not None and call.done else None,
        "elapsedSeconds": round(call.elapsed_s, 1), "endedReason": call.ended_reason,
        "micMuted": call.uplink.muted,
        "assistantMuted": controls.get("assistant", False),
        "customerMuted": controls.get("customer", False),
        "interruptions": call.interruptions,
    }


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else \
        f"{s // 60:02d}:{s % 60:02d}"


def lines(a: dict[str, Any]) -> list[str]:
    """The answer for people: what `ctl status` prints."""
    out = [f"profile {a['profile']} ({a['mode']} mode): {a['state']}"]
    call = a.get("call")
    if call and call["live"]:
        muted = [k for k, key in (("mic", "micMuted"), ("assistant", "assistantMuted"),
                                  ("customer", "customerMuted")) if call[key]]
        out.append(f"call {call['id']}: {call['status']}, {_clock(call['elapsedSeconds'])}"
                   + (f", muted: {', '.join(muted)}" if muted else ""))
    elif a.get("lastCall"):
        out.append(f"no call in progress; last {a['lastCall']}")
    elif call:
        out.append(f"no call in progress (last: {call['id']}, "
                   f"{call['endedReason'] or call['status']})")
    else:
        out.append("no call yet")
    wire = a["wire"]
    out.append(f"wire {wire['format']} {wire['sampleRate']} Hz; input {a['devices']['input']};"
               f" output {a['devices']['output']}")
    if a["playout"]:
        pl = a["playout"]
        out.append(f"playout {pl['depthMs']:.0f} ms queued, {pl['audibleUnderruns']} audible "
                   f"underruns ({pl['underruns']} in all), dropped {pl['speechDroppedMs']} ms "
                   f"of speech and {pl['silenceDroppedMs']} ms of silence")
    for item in a["transcript"]:
        out.append(f"  {ROLE_NAMES.get(item['role'], item['role'])}: {item['text']}")
    return out
