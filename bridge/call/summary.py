"""What one call came to: its outcome, the audio counters, and the one summary line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridge import redact
from bridge.audio.base import AudioSink, AudioSource, DeviceStats
from bridge.audio.playout import PlayoutStats
from bridge.call.downlink import Downlink
from bridge.call.ended_words import explain, failed_on_vapis_side
from bridge.call.looplag import LoopLagStats
from bridge.call.recording import Recorder
from bridge.call.state import GOING_ON, VapiStatus
from bridge.call.turns import VISITOR_LEFT, Turns, percentile
from bridge.call.uplink import Uplink, UplinkStats
from bridge.errors import ExitCode
from bridge.inert import inert
from bridge.vapi.api import VapiApi
from bridge.vapi.callinfo import CallInfo
from bridge.words import plural

log = logging.getLogger("bridge.call")

CONNECTION_LOST, STOPPED_CONNECTING = "connection-lost", "stopped-while-connecting"
EXIT_CODES = {"ok": ExitCode.OK, "connection-lost": ExitCode.NETWORK,
              "vapi-failed": ExitCode.NETWORK, "device-failed": ExitCode.AUDIO}
CUSTOMER_ENDED = "customer-ended-call"  # Vapi's reason when the client's side ends the call
OUTCOME_TIMEOUT_S = 5.0
MAX_COST = 1e6  # dollars: a cost said above this is no call's (a hostile or broken answer)


@dataclass
class CallSummary:
    call_id: str
    ended_reason: str
    duration_s: float
    cost: float | None = None
    uplink: UplinkStats = field(default_factory=UplinkStats)
    playout: PlayoutStats = field(default_factory=PlayoutStats)
    received_s: float = 0.0
    malformed: int = 0
    interruptions: int = 0
    devices: DeviceStats | None = None  # sound-card counters, when a device was used
    device_error: str | None = None  # a device failed for good and ended the call
    recording_error: str | None = None  # the recording stopped early: path and cause
    recording_started: bool = True  # False: it could not start (no file was left)
    heard_gaps_ms: list[float] = field(default_factory=list)  # per answered turn (`turns`)
    loop: LoopLagStats = field(default_factory=LoopLagStats)  # the event loop's lateness
    left_open: bool = False  # Vapi may run the call still (`VapiStatus.left_open`)

    @property
    def connection_lost(self) -> bool:
        """The call dropped mid-way (or never came): our connection, or Vapi's side failing."""
        return self.ended_reason == CONNECTION_LOST or failed_on_vapis_side(self.ended_reason)

    @property
    def outcome(self) -> str:
        """For the `ended` event: ok, connection-lost (ours), vapi-failed (its side), or
        device-failed."""
        if self.device_error:
            return "device-failed"
        if failed_on_vapis_side(self.ended_reason):
            return "vapi-failed"
        return "connection-lost" if self.ended_reason == CONNECTION_LOST else "ok"

    @property
    def exit_code(self) -> ExitCode:
        return EXIT_CODES[self.outcome]

    def line(self) -> str:
        cost = f", cost ${self.cost:.4f}" if self.cost is not None else ""
        # the full id: the call is over, so it opens nothing (see call.py); but one Vapi may
        # run on (lost; stopped while connecting: queued ~20 s; its end never had) by its tail
        shown = self.call_id if self.ended_reason not in (CONNECTION_LOST, STOPPED_CONNECTING) \
            and not self.left_open else f"…{self.call_id[-8:]}"
        return (f"call {shown} ended: {self.ended_reason} after "
                f"{self.duration_s:.1f} s{cost}; sent {self.uplink.sent_seconds:.1f} s"
                f"{self._mic_dropped()}, "
                f"received {self.received_s:.1f} s of audio, "
                f"{plural(self.playout.audible_underruns, 'audible underrun')} "
                f"({self.playout.underruns} in all), {self._dropped()}, "
                f"{plural(self.interruptions, 'interruption')}{self._device_counts()}"
                f"{self._heard_gap()}{self.loop.clause()}"
                + (f"; {plural(self.malformed, 'message')} from Vapi ignored (malformed or "
                   f"oversized)" if self.malformed else "")
                + (f"; recording {'incomplete' if self.recording_started else 'not started'} "
                   f"({self.recording_error})" if self.recording_error else ""))

    def _mic_dropped(self) -> str:
        """The microphone's audio the uplink dropped, having fallen behind (the event loop
        held up): said only when there is any."""
        ms = self.uplink.dropped_ms
        return f" ({ms:.0f} ms of the microphone dropped: the bridge fell behind)" \
            if ms >= 1 else ""

    def _dropped(self) -> str:
        p = self.playout
        return (f"dropped {p.speech_dropped_ms:.0f} ms of speech and "
                f"{p.silence_dropped_ms:.0f} ms of silence")

    def _heard_gap(self) -> str:
        gaps = self.heard_gaps_ms
        if not gaps:
            return ""
        return (f"; heard gap {percentile(gaps, 50):.0f} ms median, "
                f"{percentile(gaps, 90):.0f} ms p90 ({plural(len(gaps), 'turn')})")

    def _device_counts(self) -> str:
        d = self.devices
        if d is None:
            return ""
        reopens = (f"{plural(d.reopen_attempts, 'reopen attempt')} ({d.reopens} succeeded)"
                   if d.reopen_attempts else "no reopens")
        return (f"; devices: {plural(d.input_overflows, 'input overflow')}, "
                f"{plural(d.output_underflows, 'output underflow')}, {reopens}")


def outcome(body: dict[str, Any], reason: str) -> tuple[str, float | None]:
    """The ended reason and cost of `GET /call/{id}`: server text, so inert and bounded, and
    only of the right types."""
    ended = body.get("endedReason")
    cost = body.get("cost")
    good = isinstance(cost, (int, float)) and not isinstance(cost, bool) and \
        0 <= cost < MAX_COST  # (NaN fails both)
    return (inert(redact.mask(ended), 160) if isinstance(ended, str) and ended else reason,
            float(cost) if good else None)


class Finished(Protocol):
    """What the summary reads of a call that is over (`bridge.call.lifecycle.Call`)."""

    api: VapiApi
    info: CallInfo | None
    ended_reason: str | None
    vapi: VapiStatus
    device_error: str | None
    recorder: Recorder | None
    uplink: Uplink
    downlink: Downlink
    playout_at_close: PlayoutStats | None
    devices: DeviceShare
    turns: Turns

    @property
    def short_id(self) -> str: ...
    @property
    def elapsed_s(self) -> float: ...
    @property
    def malformed(self) -> int: ...
    @property
    def interruptions(self) -> int: ...


async def summarise(call: Finished, end_lost: Callable[[], Awaitable[bool]]) -> CallSummary:
    """The call's summary: its outcome read from Vapi (unless the connection was lost, when
    Vapi cannot have it yet), a device failure taking precedence, and its counters.
    `end_lost` ends, through the controlUrl, a call lost while Vapi says it goes on."""
    reason = call.ended_reason or "ended"
    duration = call.elapsed_s
    cost: float | None = None
    if call.info is not None and reason == CONNECTION_LOST and \
            call.vapi.closed_unsaid is not None:
        reason, cost, call.vapi.left_open = await ended_unsaid(
            call.api, call.info, call.vapi.closed_unsaid, call.short_id, end_lost)
    elif call.info is not None and reason != CONNECTION_LOST:
        reason, cost, call.vapi.left_open = await read_outcome(
            call.api, call.info, reason, call.short_id, call.vapi.follow_up,
            end_lost if call.vapi.end_sent and not call.vapi.ended.is_set() else None)
    if call.turns.left:  # ended by us for silence: Vapi's reason would say who hung up
        reason = VISITOR_LEFT
    explain(call.short_id, reason, call.vapi.transfer)
    return CallSummary(
        call_id=call.info.id if call.info else "", ended_reason=call.device_error or reason,
        duration_s=duration, cost=cost, uplink=call.uplink.stats,
        playout=call.playout_at_close or call.downlink.playout_stats(),
        received_s=call.downlink.received_seconds, malformed=call.malformed,
        interruptions=call.interruptions, devices=call.devices.share(),
        device_error=call.device_error, left_open=call.vapi.left_open,
        recording_error=call.recorder.failure if call.recorder else None,
        recording_started=call.recorder is None or call.recorder.transcript_path is not None,
        heard_gaps_ms=list(call.turns.gaps_ms), loop=call.uplink.lag.report(call.short_id))


async def read_outcome(api: VapiApi, info: CallInfo, reason: str, label: str, follow_up: str,
                       end_lost: Callable[[], Awaitable[bool]] | None = None
                       ) -> tuple[str, float | None, bool]:
    """The ended call's reason and cost from `GET /call/{id}`; `reason` (and no cost) when
    Vapi cannot say. `end_lost`: our end-call met no `ended` (a link dead before the
    watchdog saw it, or as `ctl end` was asked: the end-call went nowhere), so a call Vapi
    says is in progress is ended through its controlUrl. The third value: such a call may
    be billed still (Vapi not asked, or not told to end it: `VapiStatus.left_open`), and
    `follow_up` says what becomes of it (`VapiStatus.follow_up`: the daemon's, a script's)."""
    try:
        final = await final_call(api, info)
    except Exception as exc:
        log.warning("call %s: could not read the call's outcome (%s)%s", label,
                    str(exc) or exc.__class__.__name__, "" if end_lost is None else
                    f"; Vapi never confirmed the end: {follow_up}")
        return reason, None, end_lost is not None
    left = False
    if end_lost is not None and final.get("status") == "in-progress":
        log.warning("call %s: Vapi says the call is still in progress: the end-call asked "
                    "on its socket did not reach it", label)
        left = not await end_lost()
    reason, cost = outcome(final, reason)  # going on: its cost so far (the settler's to read)
    return reason, None if final.get("status") in GOING_ON else cost, left


async def final_call(api: VapiApi, info: CallInfo) -> dict[str, Any]:
    """`GET /call/{id}`'s body (server text), within `OUTCOME_TIMEOUT_S`."""
    async with asyncio.timeout(OUTCOME_TIMEOUT_S):
        return (await api.get_call(info.id, attempts=2)).raw


async def ended_unsaid(api: VapiApi, info: CallInfo, code: int, label: str,
                       end_lost: Callable[[], Awaitable[bool]]
                       ) -> tuple[str, float | None, bool]:
    """Vapi closed the socket (`code`, not 1000) without a `status-update` ended: lost, unless
    `GET /call/{id}` says the call ended — Vapi often closes with 1005 or 1006 after ending
    it, and a call's `clientMessages` may leave `status-update` out. One Vapi says is in
    progress is ended (`end_lost`): lost, Vapi would bill it until it noticed. The third
    value: Vapi may bill it still (not asked, or not told to end it: `VapiStatus.left_open`)."""
    try:
        final = await final_call(api, info)
    except Exception as exc:
        log.warning("call %s: connection lost (socket closed with code %d; Vapi could not "
                    "say whether the call had ended: %s)", label, code,
                    str(exc) or exc.__class__.__name__)
        return CONNECTION_LOST, None, True
    if final.get("status") != "ended":
        log.warning("call %s: connection lost (socket closed with code %d; Vapi says the "
                    "call is %s)", label, code, inert(str(final.get("status")), 40))
        # not "forwarding": a transfer goes on
        return CONNECTION_LOST, None, final.get("status") == "in-progress" and not \
            await end_lost()
    reason, cost = outcome(final, "ended")
    if reason == CUSTOMER_ENDED:  # not us (we had not asked): Vapi ended it on losing us
        log.warning("call %s: connection lost (socket closed with code %d; Vapi then ended "
                    "the call as %s)", label, code, reason)
        return CONNECTION_LOST, cost, False
    log.info("call %s: Vapi had ended the call (%s); its socket closed with code %d",
             label, reason, code)
    return reason, cost, False


class DeviceShare:
    """A call's share of the sound cards' counters: the devices outlive calls, so their
    counts are taken when the call connects (`start`) and subtracted at the end."""

    def __init__(self, source: AudioSource, sink: AudioSink) -> None:
        self._backends = (source, sink)
        self._base: DeviceStats | None = None

    def _totals(self) -> DeviceStats | None:
        stats = [b.device_stats for b in self._backends if b.device_stats is not None]
        return sum(stats[1:], stats[0]) if stats else None

    def start(self) -> None:
        self._base = self._totals()

    def share(self) -> DeviceStats | None:
        """Since `start` (since the devices opened, if the call never connected); None when
        no device is used."""
        totals = self._totals()
        return totals - self._base if totals is not None and self._base is not None \
            else totals
