"""The kiosk's events: one small JSON object per change a light, a screen or a script may
follow (`vapi-bridge ctl events`, `service.on_event`, the HTTP server's `/events`).

An event is `{"event": KIND, "seq": N, "at": UNIX_SECONDS, …fields}`. KIND is one of
`KINDS` today, and more may come: a consumer ignores a kind it does not know (as it would
an unknown field). Field values are strings, numbers, booleans or null, already bounded
and inert (no control characters), since they may come from the network.

`EventBus` fans each event out to every subscriber without ever blocking the publisher:
each subscriber has a bounded queue, and one that falls behind loses its oldest events
and is told how many (a `lost` event) instead of slowing the daemon. A new subscriber
first gets the latest state event (`STATE_KINDS`), so a screen that connects mid-call
knows where the kiosk is.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bridge.inert import printable

log = logging.getLogger("bridge.events")

STANDBY = "standby"  # waiting for a trigger (standby mode)
TRIGGERED = "triggered"  # cause: wake-word | ctl | signal | http | start | loop
CONNECTING = "connecting"  # the call is being created and connected
IN_CALL = "in-call"  # audio flows both ways; call: the short id
ASSISTANT_SPEAKING = "assistant-speaking"
ASSISTANT_SILENT = "assistant-silent"
VISITOR_SPEAKING = "visitor-speaking"
VISITOR_SILENT = "visitor-silent"
INTERRUPTED = "interrupted"  # the visitor cut the assistant's reply
MUTED = "muted"  # who: assistant | visitor
UNMUTED = "unmuted"
HANG = "hang"  # Vapi says the assistant is stalled
TRANSCRIPT = "transcript"  # role, text, final (partials too: a consumer may skip them)
CAPTION = "caption"  # the assistant's whole turn text as its audio starts (speechStarted)
ENDED = "ended"  # reason, outcome, exit
BACKOFF = "backoff"  # loop mode, calls failing: waiting to call again (seconds, failures, cause)
PAUSED = "paused"  # loop mode: no call until the spending limit allows one (cause)
ERROR = "error"  # message: one line; cause where one is known (SPENDING_LIMIT, …)
LOST = "lost"  # this subscriber fell behind: count events were dropped for it
TURN = "turn"  # one per assistant turn: heard_gap_ms (visitor's end → first sound heard)
TOOL_CALL = "tool-call"  # the assistant called a client-side tool: name, arguments (JSON), id
TRANSFER = "transfer"  # Vapi is transferring the call: destination (number, sip, …), to
COST = "cost"  # a call's cost known only after its `ended` (Vapi said it late): call, cost
LINK_STALLED = "link-stalled"  # nothing from Vapi, a ping unanswered: call, seconds
LINK_RESTORED = "link-restored"  # Vapi's side carries again: call, seconds (the stall's)

KINDS = (STANDBY, TRIGGERED, CONNECTING, IN_CALL, ASSISTANT_SPEAKING, ASSISTANT_SILENT,
         VISITOR_SPEAKING, VISITOR_SILENT, INTERRUPTED, MUTED, UNMUTED, HANG, TRANSCRIPT,
         CAPTION, ENDED, ERROR, LOST, TURN, TOOL_CALL, TRANSFER, COST, LINK_STALLED,
         LINK_RESTORED, BACKOFF, PAUSED)
STATE_KINDS = frozenset({STANDBY, TRIGGERED, CONNECTING, IN_CALL, ENDED, BACKOFF, PAUSED})
# the states after a call, until the kiosk waits or calls again: its lines stay the screen's
# for LINES_KEPT_S (`backoff` follows an `ended` when the call failed)
AFTER_CALL = (ENDED, BACKOFF)

SPENDING_LIMIT = "spending-limit"  # an ERROR's cause: the daily limit refused a call

MAX_FIELD = 4000  # characters of one string field
QUEUE_SIZE = 256  # events a subscriber may fall behind by
LINES = 5  # a call's last final transcripts: replayed to a screen opened mid-call (`ctl
# status` shows as many, from the daemon's own store: kept until the next call, not only
# until the kiosk waits again, and with Vapi's role names)
LINES_KEPT_S = 20.0  # and for this long after the call ended (as long as the screen keeps
# them: kiosk.html's CLEAR_AFTER_MS): loop mode's next call may be minutes away
RECENT = 256  # events kept for a client that comes back (an event stream's Last-Event-ID)

Value = str | int | float | bool | None


@dataclass(frozen=True)
class KioskEvent:
    kind: str
    seq: int
    at: float  # wall clock (time.time())
    fields: dict[str, Value] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Value]:
        return {"event": self.kind, "seq": self.seq, "at": round(self.at, 3), **self.fields}

    def json(self) -> str:
        """One line of JSON (no newline inside: strings are escaped)."""
        return json.dumps(self.as_dict(), separators=(",", ":"), ensure_ascii=False)


def final_only(event: KioskEvent) -> bool:
    """A `keep` for subscribers that skip partial transcripts (a non-final `transcript`)."""
    return event.kind != TRANSCRIPT or event.fields.get("final") is not False


def _clean(value: object) -> Value:
    if value is None or isinstance(value, bool | int | float):
        return value  # type: ignore[return-value]
    return printable(str(value), MAX_FIELD)  # server text: made inert where it came in


class Subscription:
    """One consumer's bounded queue (`async for event in sub`)."""

    def __init__(self, size: int, keep: Callable[[KioskEvent], bool] | None = None) -> None:
        self._queue: asyncio.Queue[KioskEvent] = asyncio.Queue(maxsize=size)
        self._held: KioskEvent | None = None  # the event behind a `lost` notice
        self._keep = keep
        self.lost = 0
        self.closed = False

    def put(self, event: KioskEvent) -> None:
        if self.closed or (self._keep is not None and not self._keep(event)):
            return
        try:
            self._queue.put_nowait(event)
            return
        except asyncio.QueueFull:
            pass
        with contextlib.suppress(asyncio.QueueEmpty):  # behind: drop the oldest
            self._queue.get_nowait()
        self.lost += 1
        self._queue.put_nowait(event)

    async def get(self) -> KioskEvent:
        if self._held is not None:
            event, self._held = self._held, None
            return event
        return self._after_loss(await self._queue.get())

    def get_nowait(self) -> KioskEvent | None:
        """The next event if one is waiting, else None (never waits)."""
        if self._held is not None:
            event, self._held = self._held, None
            return event
        try:
            return self._after_loss(self._queue.get_nowait())
        except asyncio.QueueEmpty:
            return None

    @property
    def pending(self) -> int:
        """Events waiting to be taken (a `lost` notice not counted)."""
        return self._queue.qsize() + (self._held is not None)

    def _after_loss(self, event: KioskEvent) -> KioskEvent:
        if self.lost:  # say how many were dropped, then give this one
            lost, self.lost, self._held = self.lost, 0, event
            return KioskEvent(LOST, event.seq, time.time(), {"count": lost})
        return event

    def __aiter__(self) -> AsyncIterator[KioskEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[KioskEvent]:
        while not self.closed:
            yield await self.get()


Listener = Callable[[KioskEvent], None]


class EventBus:
    """Publish kiosk events; subscribe to them (async) or listen (a plain callback, which
    must not block: it runs on the event loop)."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._listeners: list[Listener] = []
        self._seq = 0
        # this bus's own, beside its seqs where a client keeps one (an event stream's id):
        # a daemon started again counts from 1 again, and its 5 is not the last one's
        self.run = secrets.token_hex(4)
        self.state: KioskEvent | None = None  # the latest of STATE_KINDS
        self.mutes: dict[str, KioskEvent] = {}  # who/via is muted in this call: its `muted`
        self.stalled: KioskEvent | None = None  # the call's link stalled now: `link-stalled`
        self.failure: KioskEvent | None = None  # the latest `error`, until a call `ended`
        # this call's last final lines (`transcript`), until the next call or standby
        self.lines: collections.deque[KioskEvent] = collections.deque(maxlen=LINES)
        # calls refused at an operator's request (`ctl call`, POST /call), told to them
        # alone: no `error` event (no offline line), by cause, for the metrics
        self.refused: collections.Counter[str] = collections.Counter()
        self._recent: collections.deque[KioskEvent] = collections.deque(maxlen=RECENT)

    def publish(self, kind: str, **fields: object) -> KioskEvent:
        self._seq += 1
        event = KioskEvent(kind, self._seq, time.time(),
                           {k: _clean(v) for k, v in fields.items()})
        if kind in STATE_KINDS:
            self.state = event
            if kind != IN_CALL:  # a call begins or ends: none of its mutes holds
                self.mutes.clear()
            if kind not in (IN_CALL, *AFTER_CALL):  # a call begins, or the kiosk waits:
                self.lines.clear()  # its lines are no longer the screen's
            self.stalled = None  # nor its link's stall
        elif kind == TRANSCRIPT and fields.get("final") is True:
            self.lines.append(event)
        elif kind in (LINK_STALLED, LINK_RESTORED):
            self.stalled = event if kind == LINK_STALLED else None
        elif kind in (MUTED, UNMUTED):  # per who and via: the visitor muted both at the
            # microphone and by Vapi, one unmute left the other replayed as none in force
            who = f"{event.fields.get('who')}/{event.fields.get('via')}"
            if kind == MUTED:
                self.mutes[who] = event
            else:
                self.mutes.pop(who, None)
        if kind in (ERROR, ENDED):  # `ctl status`: a call that could not be placed
            self.failure = event if kind == ERROR else None
        self._recent.append(event)
        for sub in self._subs:
            sub.put(event)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("an event listener failed")
        return event

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every event from now; returns what removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @contextlib.contextmanager
    def subscribe(self, size: int = QUEUE_SIZE, *, replay_state: bool = True,
                  keep: Callable[[KioskEvent], bool] | None = None,
                  since: int | None = None, lines: bool = False) -> Iterator[Subscription]:
        """A subscription for the duration of the block, starting with the latest state (and
        the mutes in force in the call, and its link's stall while it lasts; with `lines`,
        the call's last `LINES` final transcripts: a screen opened mid-call, or
        `LINES_KEPT_S` after it, and the `error` of a call that could not be placed, while
        the state is the one it ended: "connecting", until a loop's `backoff`), or
        (`since`: the last seq a client had, an event stream's Last-Event-ID) with what came
        after it, when the last `RECENT` events still hold all of that; only the events
        `keep` says yes to (all by default) are queued for it."""
        sub = Subscription(size, keep)
        missed = self._after(since)
        if missed is not None:
            for event in missed:
                sub.put(event)
        elif replay_state and self.state is not None:
            sub.put(self.state)
            for muted in self.mutes.values():  # (a screen started mid-call shows them)
                sub.put(muted)
            if self.stalled is not None:  # and a link stalled now
                sub.put(self.stalled)
            for line in self.lines if lines and self._lines_kept() else ():
                sub.put(line)
            failed = self.failure
            if lines and failed is not None and failed.seq > self.state.seq:  # the call
                sub.put(failed)  # could not be placed, the next try a backoff away (loop)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            sub.closed = True
            self._subs.discard(sub)

    def _lines_kept(self) -> bool:
        """The call's lines are still the screen's: the call is on, or ended a moment ago."""
        state = self.state
        return state is None or state.kind not in AFTER_CALL or \
            time.time() - state.at < LINES_KEPT_S

    def _after(self, since: int | None) -> list[KioskEvent] | None:
        """The events after seq `since`, or None when they are not all kept (or `since` is
        no seq of this bus: a daemon started again counts from 1)."""
        recent = self._recent
        if since is None or not recent or not recent[0].seq - 1 <= since <= self._seq:
            return None
        return [event for event in recent if event.seq > since]

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def as_dict(self) -> dict[str, Any]:
        return {"subscribers": self.subscribers, "seq": self._seq}
