"""The `status` answer in lines for people: what `ctl status` prints (`--json` prints the
answer itself). Rendered at the `ctl` end from the answer the daemon builds
(`Host.snapshot`).
"""

from __future__ import annotations

import time
from typing import Any

from bridge.inert import printable
from bridge.words import plural, speaker


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
                   + (f", muted: {', '.join(muted)}" if muted else "")
                   + (f"; {call['cpuBehind']}" if call.get("cpuBehind") else "")
                   + (f"; link stalled: nothing from Vapi for {call['stalledSeconds']:.0f} s, "
                      f"no answer to a ping (the call is lost if nothing comes within "
                      f"{call['lostAfterSeconds']:.0f} s of the last)"
                      if call.get("link") == "stalled"
                      else ""))
    elif a.get("lastError"):  # none placed since: the last summary is older news
        failed = a["lastError"]
        out.append(f"no call in progress; the last could not be placed (at "
                   f"{time.strftime('%H:%M:%S', time.localtime(failed['at']))}): "
                   f"{failed['message']}")
        if a.get("lastCall"):
            out.append(f"before it, {a['lastCall']}")
    elif a.get("lastCall"):
        out.append(f"no call in progress; last {a['lastCall']}")
    elif call:
        out.append(f"no call in progress (last: {call['id']}, "
                   f"{call['endedReason'] or call['status']})")
    else:
        out.append("no call yet")
    wake = a.get("wakeWord")
    if wake:
        out.append(f"wake word {wake['word']!r}: " + (
            "listening" if wake["listening"] else
            "not listening while the kiosk's speaker plays (say it again once it stops)"
            if wake.get("heldBySpeaker") else
            "not listening now (only in standby between calls, with the microphone open)"))
    if (a.get("spending") or {}).get("refused"):
        out.append(str(a["spending"]["refused"]))
    http = a.get("http")
    if http and http["served"]:
        out.append(f"kiosk screen and /metrics: {http['url']}")
    elif http:
        out.append(f"kiosk screen and /metrics NOT served: cannot listen on {http['listen']}: "
                   f"{http['error']} — trying again every {http['retrySeconds']} s")
    wire = a["wire"]
    out.append(f"wire {wire['format']} {wire['sampleRate']} Hz; input {a['devices']['input']};"
               f" output {a['devices']['output']}")
    if a["playout"]:
        pl = a["playout"]
        out.append(f"playout {pl['depthMs']:.0f} ms queued, "
                   f"{plural(pl['audibleUnderruns'], 'audible underrun')} "
                   f"({pl['underruns']} in all), dropped {pl['speechDroppedMs']} ms "
                   f"of speech and {pl['silenceDroppedMs']} ms of silence")
    for item in a["transcript"]:
        out.append(f"  {speaker(printable(item['role'], 20))}: {item['text']}")
    return out
