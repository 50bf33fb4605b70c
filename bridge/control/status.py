"""`ctl status`: what the daemon and its call are doing, as JSON and as lines for people.

Never a URL or a key; a live call's id is shortened (while the call lives its id opens it),
an ended call's is given in full (`callId`, for support and `listen --call-id`); devices are
named as the profile names them.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from bridge.words import ROLE_NAMES

if TYPE_CHECKING:
    from bridge.service.daemon import Daemon

TRANSCRIPT_LINES = 5


def _device(part: Any, spec: str | int) -> str:
    if part is None:
        return f"{spec} (closed)"
    name = spec
    with contextlib.suppress(Exception):
        name = part.name  # devices know their real name
    return f"{name} @ {part.sample_rate} Hz"


def status(daemon: Daemon, controls: dict[str, bool]) -> dict[str, Any]:
    p = daemon.profile
    call = daemon.call
    live = call is not None and not call.done
    sink = daemon.sink
    playout = sink.playout_stats() if sink is not None else None
    answer: dict[str, Any] = {
        "profile": p.name, "mode": p.service.mode, "state": daemon.state,
        "wire": {"format": p.wire.format, "sampleRate": p.wire.sample_rate},
        "devices": {"input": _device(daemon.source, p.audio.input),
                    "output": _device(sink, p.audio.output)},
        "call": None,
        "playout": None if playout is None else {
            "depthMs": round(playout.depth_ms, 1), "underruns": playout.underruns,
            "audibleUnderruns": playout.audible_underruns,
            "speechDroppedMs": round(playout.speech_dropped_ms),
            "silenceDroppedMs": round(playout.silence_dropped_ms)},
        "transcript": [{"role": r, "text": t}
                       for r, t in list(daemon.transcript)[-TRANSCRIPT_LINES:]],
        "lastCall": daemon.last_summary.line() if daemon.last_summary else None,
    }
    if call is not None:
        answer["call"] = {
            "id": call.short_id, "status": call.status, "live": live,
            "callId": call.info.id if call.info is not None and call.done else None,
            "elapsedSeconds": round(call.elapsed_s, 1), "endedReason": call.ended_reason,
            "micMuted": call.uplink.muted,
            "assistantMuted": controls.get("assistant", False),
            "customerMuted": controls.get("customer", False),
            "interruptions": call.interruptions,
        }
    answer["message"] = "\n".join(lines(answer))
    return answer


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else \
        f"{s // 60:02d}:{s % 60:02d}"


def lines(a: dict[str, Any]) -> list[str]:
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
