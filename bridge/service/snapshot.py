"""The `ctl status` answer (`Host.snapshot`), as JSON values.

Never a URL or a key. Devices are named as the profile names them (a device's own name
when it is open); a live call's id is shortened (while the call lives its id opens it), an
ended call's is given in full (`callId`, for support and `listen --call-id`); the
transcript is the current call's last final lines (already inert: `bridge.vapi.messages`);
the last call is its summary line; `http` is where the kiosk screen and /metrics are
served, or why not yet (`bridge.web.server`), None without `http.listen`. A call's clock
is `Call.elapsed_s` (socket open to close, as the summary's `after N s`), read once per
answer for both the state line and the call's `elapsedSeconds`. `ctl` renders it in
lines (`bridge.control.status`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from bridge import __version__
from bridge.audio.base import AudioSink, AudioSource
from bridge.call.lifecycle import Call
from bridge.call.state import CallState
from bridge.call.summary import CallSummary
from bridge.call.watchdog import LOST_AFTER_S
from bridge.events import SPENDING_LIMIT, KioskEvent
from bridge.profile import Profile
from bridge.service.progress import in_call_line


@runtime_checkable
class Serving(Protocol):
    def serving(self) -> dict[str, Any]:
        """Where it serves (`url`), or why not yet (`error`, retried every `retrySeconds`)."""
        ...


def _device(part: AudioSource | AudioSink | None, spec: str | int) -> str:
    if part is None:
        return f"{spec} (closed)"
    name = spec
    with contextlib.suppress(Exception):
        name = part.name  # type: ignore[union-attr]  # devices know their real name
    idle = " (closed while standby waits)" if part.paused else ""
    return f"{name} @ {part.sample_rate} Hz{idle}"


def _call(call: Call, elapsed_s: float) -> dict[str, Any]:
    controls = call.commands.sent_controls  # what this daemon asked Vapi to mute
    lag = call.uplink.lag.stats()  # the CPU keeping up so far (the summary's words)
    stalled = call.stalled_s  # the link carries nothing (None: it carries, or the call is over)
    return {
        "id": call.short_id, "status": call.status, "live": not call.done,
        "callId": call.info.id if call.info is not None and call.done else None,
        "elapsedSeconds": elapsed_s, "endedReason": call.ended_reason,
        "micMuted": call.uplink.muted,
        "assistantMuted": controls.get("assistant", False),
        "customerMuted": controls.get("customer", False),
        "interruptions": call.interruptions,
        "cpuBehind": lag.words() if lag.fell_behind else None,
        "link": "stalled" if stalled is not None else  # (null while being placed: no link
        "ok" if call.state is CallState.IN_CALL and not call.done else None,  # yet)
        "stalledSeconds": None if stalled is None else round(stalled, 1),
        "lostAfterSeconds": LOST_AFTER_S,  # of nothing, a ping unanswered (`watchdog`)
    }


def snapshot(profile: Profile, state: str, source: AudioSource | None,
             sink: AudioSink | None, call: Call | None,
             transcript: Iterable[tuple[str, str]], last_summary: CallSummary | None,
             spending: dict[str, Any] | None = None,
             wake_word: dict[str, Any] | None = None,
             served: Iterable[object] = (),
             failure: KioskEvent | None = None) -> dict[str, Any]:
    playout = None if sink is None else call.downlink.playout_stats() \
        if call is not None and call.sink is sink else sink.playout_stats()  # the call's share
    # one reading of the call's clock for the state line and the call's own (the state
    # kept between the daemon's once-a-second updates could be a second or more behind)
    elapsed = round(call.elapsed_s, 1) if call is not None else 0.0
    state = (in_call_line(call, elapsed) if call is not None else None) or state
    return {
        "profile": profile.name, "mode": profile.service.mode, "state": state,
        "version": __version__,  # the code this daemon runs (ctl says when another is installed)
        "wire": {"format": profile.wire.format, "sampleRate": profile.wire.sample_rate},
        "devices": {"input": _device(source, profile.audio.input),
                    "output": _device(sink, profile.audio.output)},
        "call": _call(call, elapsed) if call is not None else None,
        "playout": None if playout is None else {
            "depthMs": round(playout.depth_ms, 1), "underruns": playout.underruns,
            "audibleUnderruns": playout.audible_underruns,
            "speechDroppedMs": round(playout.speech_dropped_ms),
            "silenceDroppedMs": round(playout.silence_dropped_ms)},
        "transcript": [{"role": r, "text": t}
                       for r, t in transcript],
        "lastCall": last_summary.line() if last_summary else None,
        # the last call that could not be placed, since the last one that was (its `error`
        # event; a spending limit's refusal is `spending.refused`)
        "lastError": None if failure is None or failure.fields.get("cause") == SPENDING_LIMIT
        else {"at": failure.at, **failure.fields},
        "spending": spending,  # today's totals, limits, why a call was refused (spending.py)
        "wakeWord": wake_word,  # {word, listening, heldBySpeaker} or None (standby.py)
        "http": next((s.serving() for s in served if isinstance(s, Serving)), None),
    }
