"""`/metrics`: the kiosk in Prometheus' text format (prometheus-client, a registry of its
own), kept from the kiosk's events and, at each scrape, the daemon's snapshot.

Counted from `ended` events: calls by Vapi's ended reason and the outcome, their duration
and cost, and (from that call's summary) audible underruns, speech dropped, device reopens
and whether the CPU kept up; `link-stalled` events count the calls' link stalls, `turn`
events feed the heard-gap histogram, `error` events
count calls that could not be placed by cause (network, vapi, refused, payment,
spending-limit, device), and so do calls an operator asked for (`ctl call`, POST /call) that
the spending limit refused at once (`EventBus.refused`: no event). Label values come from the
network: bounded in length and in number (beyond `MAX_LABELS` they count as "other"). The
known label values are series from the start, at 0 (Prometheus' advice for labelled
counters): the error causes, and the calls' usual endings (`ENDINGS`).
"""

from __future__ import annotations

import math
import platform
import re

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder

from bridge import __version__, events
from bridge.call.abandon import STOPPED_CONNECTING
from bridge.call.summary import CONNECTION_LOST, CallSummary
from bridge.call.turns import VISITOR_LEFT
from bridge.events import KioskEvent
from bridge.web import last_ok, scrub
from bridge.web.host import WebHost

STATES = ["starting", events.STANDBY, events.TRIGGERED, events.CONNECTING, events.IN_CALL,
          events.ENDED, events.BACKOFF, events.PAUSED]
DURATION_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 3600)
GAP_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
MAX_LABELS = 40  # distinct values of one label before the rest count as "other"
MAX_LABEL_LEN = 64
MAX_GAP_S = 600.0


# the reasons a kiosk's calls mostly end with: always a series of their own, however many
# odd ones came before (the first 40 of those once took every label for good). The bridge's
# own: "stopped" (not placed), "remote-closed" (Vapi closed the socket and GET /call said
# nothing) and UNSAID (bridge.call: no reason said at all; "unknown" was once listed, which
# no call ends with: a series that could never count)
UNSAID = "ended"
COMMON_REASONS = frozenset((
    "customer-ended-call", "assistant-ended-call", "assistant-said-end-call-phrase",
    "assistant-ended-call-after-message-spoken", "assistant-ended-call-with-hangup-task",
    "assistant-forwarded-call", "exceeded-max-duration", "silence-timed-out",
    "manually-canceled", "phone-call-provider-closed-websocket", "worker-shutdown",
    CONNECTION_LOST, VISITOR_LEFT, STOPPED_CONNECTING, "stopped", "remote-closed", UNSAID))
# every cause an `error` event has (bridge/service/kiosk_events.py, the spending guard):
# each a series from the start, at 0. A series born at 1 has no sample before it, so
# `increase()`/`rate()` read the first failure after a (re)start as no increase at all
ERROR_CAUSES = ("network", "vapi", "refused", "payment", events.SPENDING_LIMIT, "device",
                "other")
# (reason, outcome) of the calls' usual endings: each a series from the start, at 0, as the
# error causes, so `increase()`/`rate()` and a `sum by (outcome)` see a fresh daemon's first
# ending of each kind. A common reason with the outcome the summary gives it; a device that
# failed ends the call with its own words as the reason ("other")
ENDINGS = (*((reason, "not placed" if reason == "stopped" else
              CallSummary(call_id="", ended_reason=reason, duration_s=0.0).outcome)
             for reason in sorted(COMMON_REASONS)), ("other", "device-failed"))
REASON_SHAPE = re.compile(r"[a-z0-9][a-z0-9.-]*")  # Vapi's: a masked id, a space is not one


class _Labels:
    """A label's values, bounded in length and number: `common` ones always, others of
    `shape` while fewer than MAX_LABELS have been seen, the rest "other"."""

    def __init__(self, common: frozenset[str] = frozenset(),
                 shape: re.Pattern[str] | None = None) -> None:
        self.seen: set[str] = set()
        self.common, self.shape = common, shape

    def __call__(self, value: object, default: str) -> str:
        text = scrub.text(str(value))[:MAX_LABEL_LEN] if value not in (None, "") else default
        if text in self.common or text in self.seen:
            return text
        if len(self.seen) >= MAX_LABELS or (self.shape and not self.shape.fullmatch(text)):
            return "other"
        self.seen.add(text)
        return text


def _dollars(value: object) -> float:
    """A cost field as a counter takes it: a positive finite number, else 0."""
    if isinstance(value, int | float) and not isinstance(value, bool) \
            and 0 < value < math.inf:
        return float(value)
    return 0.0


class KioskMetrics:
    def __init__(self, host: WebHost) -> None:
        self.host = host
        # no `X_created` series beside each counter and histogram (prometheus-client's
        # default: a gauge of its own in the text format, noise in every query); the switch
        # is the process's, and this registry is the daemon's one
        disable_created_metrics()
        self.registry = r = CollectorRegistry()
        self.calls = Counter("vapi_bridge_calls", "Calls ended, by Vapi's endedReason and "
                             "the outcome (ok, connection-lost, vapi-failed, device-failed, "
                             "not placed)",
                             ["reason", "outcome"], registry=r)
        self.duration = Histogram("vapi_bridge_call_duration_seconds", "Length of each call",
                                  buckets=DURATION_BUCKETS, registry=r)
        self.cost = Counter("vapi_bridge_call_cost_dollars", "What Vapi billed for the calls "
                            "(as GET /call reports it)", registry=r)
        self.underruns = Counter("vapi_bridge_audible_underruns", "Speaker underruns inside "
                                 "the assistant's speech, over all calls", registry=r)
        self.speech_dropped = Counter("vapi_bridge_speech_dropped_seconds", "Assistant "
                                      "speech the playout dropped, over all calls", registry=r)
        self.reopens = Counter("vapi_bridge_device_reopens", "Audio devices reopened after "
                               "failing, over all calls", registry=r)
        self.cpu_behind = Counter("vapi_bridge_calls_cpu_behind", "Calls the CPU could not "
                                  "keep up with (other load, a CPU quota, a core too slow: "
                                  "the journal says which)", registry=r)
        self.loop_late = Counter("vapi_bridge_loop_late_seconds", "How late the event loop "
                                 "got to the calls' audio, hold-ups of 50 ms or more, over "
                                 "all calls", registry=r)
        self.link_stalls = Counter("vapi_bridge_link_stalls", "Times a call's link to Vapi "
                                   "stalled (nothing received, a ping unanswered: the "
                                   "link-stalled event), over all calls", registry=r)
        self.heard_gap = Histogram("vapi_bridge_heard_gap_seconds", "From the end of the "
                                   "visitor's speech to the first audible sample of the "
                                   "answer, per assistant turn", buckets=GAP_BUCKETS,
                                   registry=r)
        self.errors = Counter("vapi_bridge_call_errors", "Calls that could not be placed, by "
                              "cause", ["cause"], registry=r)
        profile = str(host.snapshot().get("profile") or "")
        self.last_ok = last_ok.LastOk(profile)
        r.register(self.last_ok)  # (no series before the first good call: `last_ok`)
        self.state = Enum("vapi_bridge_state", "The kiosk's state (its latest state event)",
                          states=STATES, registry=r)
        self.live = Gauge("vapi_bridge_call_in_progress", "1 while a call is live",
                          registry=r)
        Info("vapi_bridge_build", "This vapi-bridge, and the profile it runs (several kiosks "
             "on one host: join on it)", registry=r).info(
            {"version": __version__, "python": platform.python_version(),
             "profile": profile})
        self._reasons = _Labels(COMMON_REASONS, REASON_SHAPE)
        self._outcomes, self._causes = _Labels(), _Labels()
        for cause in ERROR_CAUSES:
            self.errors.labels(self._causes(cause, "other"))
        for reason, outcome in ENDINGS:
            self.calls.labels(reason, outcome)  # (labels of our own: none of the 40 taken)
        self._counted: CallSummary | None = None
        self._refused: dict[str, int] = {}  # of `EventBus.refused`, counted so far
        if host.events.state is not None:
            self.on_event(host.events.state)

    def on_event(self, event: KioskEvent) -> None:
        """An `EventBus.listen` callback: never raises, never blocks."""
        f = event.fields
        if event.kind in STATES:
            self.state.state(event.kind)
        if event.kind == events.ENDED:
            self._ended(event)
        elif event.kind == events.COST:  # a call's cost Vapi said after its `ended`
            self.cost.inc(_dollars(f.get("cost")))
        elif event.kind == events.ERROR:
            self.errors.labels(self._causes(f.get("cause"), "other")).inc()
        elif event.kind == events.LINK_STALLED:
            self.link_stalls.inc()
        elif event.kind == events.TURN:
            gap = f.get("heard_gap_ms")
            if isinstance(gap, int | float) and not isinstance(gap, bool) \
                    and 0 <= gap / 1000 <= MAX_GAP_S:
                self.heard_gap.observe(gap / 1000)

    def _ended(self, event: KioskEvent) -> None:
        f = event.fields
        self.calls.labels(self._reasons(f.get("reason"), UNSAID),
                          self._outcomes(f.get("outcome"), "unknown")).inc()
        seconds, cost = f.get("seconds"), f.get("cost")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            return  # not placed: no duration, no summary
        self.duration.observe(max(0.0, seconds))
        self.cost.inc(_dollars(cost))
        if f.get("outcome") == "ok" and seconds > 0:  # (a call stopped before it was up: 0)
            self.last_ok.ended(event.at)
        summary = self.host.last_summary
        if summary is not None and summary is not self._counted:
            self._counted = summary
            self.underruns.inc(summary.playout.audible_underruns)
            self.speech_dropped.inc(max(0.0, summary.playout.speech_dropped_ms) / 1000)
            if summary.devices is not None:
                self.reopens.inc(summary.devices.reopens)
            self.cpu_behind.inc(summary.loop.fell_behind)
            self.loop_late.inc(summary.loop.late_ms / 1000)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The metrics in the format the scraper's Accept header asks for (Prometheus text
        by default, OpenMetrics if asked), and its content type."""
        call = self.host.call
        self.live.set(1 if call is not None and not call.done and call.info is not None
                      else 0)
        for cause, count in self.host.events.refused.items():  # (no event of their own)
            if (new := count - self._refused.get(cause, 0)) > 0:
                self.errors.labels(self._causes(cause, "other")).inc(new)
                self._refused[cause] = count
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type
