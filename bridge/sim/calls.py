"""The call registry and each call's record: what the API reports and what tests inspect."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from bridge.sim.config import AssistantSpec, SimConfig
from bridge.sim.faults import FaultSet
from bridge.sim.wirecodec import WireFormat

if TYPE_CHECKING:
    from bridge.sim.listenmix import ListenHub
    from bridge.sim.mouth import Mouth

COST_PER_MINUTE = 0.05


class LiveCall(Protocol):
    """A connected call socket (``session.CallSession``) as the HTTP side reaches it
    through ``CallRecord.session``: /control, /_sim, the never-connected timer, shutdown."""

    ended: bool
    customer_muted: bool
    rng: random.Random

    @property
    def mouth(self) -> Mouth: ...
    @property
    def lead_bytes(self) -> float: ...  # downlink audio sent ahead of real time
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...
    def command(self, msg: dict[str, Any], via: str = "socket") -> None: ...
    def send_raw(self, text: str) -> None: ...
    def shutdown(self) -> None: ...


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return (
        datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{int(ts * 1000) % 1000:03d}Z"
    )


def new_call_id() -> str:
    """A UUIDv7-like id (time-ordered, like Vapi's)."""
    ms = int(time.time() * 1000)
    rnd = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms << 80)
        | (0x7 << 76)
        | ((rnd >> 68) & 0xFFF) << 64
        | (0b10 << 62)
        | (rnd & ((1 << 62) - 1))
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


ENDED_MESSAGES = {
    "customer-ended-call": "The customer ended the call.",
    "assistant-ended-call": "The assistant ended the call.",
    "assistant-ended-call-after-message-spoken": "The assistant ended the call after speaking "
    "the message it was asked to say.",
    "assistant-forwarded-call": "The assistant transferred the call.",
    "silence-timed-out": "The call ended because nobody spoke for the silence timeout.",
    "exceeded-max-duration": "The call reached its maxDurationSeconds.",
}


def ended_message(reason: str) -> str:
    """``endedMessage``: a sentence adding context to the endedReason."""
    if reason in ENDED_MESSAGES:
        return ENDED_MESSAGES[reason]
    if "error" in reason or "fault" in reason:
        return f"The call ended on an error ({reason}). Check the call logs for details."
    return f"The call ended ({reason})."


@dataclass
class CallOptions:
    """The effective assistant settings of one call (inline assistant + overrides)."""

    first_message: str | None = None  # None: assistant default; "": none
    first_message_mode: str = "assistant-speaks-first"
    first_message_interruptions: bool = False  # Vapi's schema default
    max_duration: float = 600.0
    silence_timeout: float = 30.0
    listen_enabled: bool = True
    control_enabled: bool = True
    listen_auth: bool = False
    control_auth: bool = False
    client_messages: list[str] | None = None


@dataclass
class UplinkStats:
    frames: int = 0
    frame_bytes: list[int] = field(default_factory=list)
    arrival_monotonic: list[float] = field(default_factory=list)
    arrival_seconds: list[float] = field(default_factory=list)
    samples: int = 0
    text_frames: int = 0
    max_gap_ms: float = 0.0
    markers: list[dict[str, Any]] = field(default_factory=list)

    def record(self, size: int, mono: float, since_connect: float) -> None:
        if self.arrival_monotonic:
            self.max_gap_ms = max(self.max_gap_ms, (mono - self.arrival_monotonic[-1]) * 1000.0)
        self.frames += 1
        self.frame_bytes.append(size)
        self.arrival_monotonic.append(mono)
        self.arrival_seconds.append(round(since_connect, 6))


@dataclass
class CallRecord:
    id: str
    host: str
    fmt: WireFormat
    assistant: AssistantSpec
    options: CallOptions
    faults: FaultSet
    create_body: dict[str, Any]
    request_headers: dict[str, str]
    listen: ListenHub
    secure: bool = False  # created over TLS: the call's URLs are wss:// and https://
    created_wall: float = field(default_factory=time.time)
    status: str = "queued"
    ended_reason: str | None = None
    started_wall: float | None = None
    ended_wall: float | None = None
    connected_mono: float | None = None
    ended_mono: float | None = None
    close_code: int | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    conversation: list[dict[str, Any]] = field(default_factory=list)
    messages_received: list[dict[str, Any]] = field(default_factory=list)
    events_sent: list[dict[str, Any]] = field(default_factory=list)
    fault_frames_sent: list[dict[str, Any]] = field(default_factory=list)
    uplink: UplinkStats = field(default_factory=UplinkStats)
    uplink_pcm: bytearray = field(default_factory=bytearray)
    downlink_pcm: bytearray = field(default_factory=bytearray)
    downlink_bytes: int = 0
    downlink_chunks: int = 0
    downlink_chunk_sizes: list[int] = field(default_factory=list)
    downlink_markers: list[dict[str, Any]] = field(default_factory=list)
    control_log: list[dict[str, Any]] = field(default_factory=list)
    control_down: int = 0  # controlUrl requests seen, for fault control-down=N
    lookups: int = 0  # GET /call/{id} seen (fault lookup-500=N counts them)
    handoffs: list[dict[str, Any]] = field(default_factory=list)
    session: LiveCall | None = None
    ended_event: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ended(self) -> bool:
        return self.status == "ended"

    def since_connect(self, mono: float | None = None) -> float:
        if self.connected_mono is None:
            return 0.0
        return round((time.monotonic() if mono is None else mono) - self.connected_mono, 6)

    def mark_connected(self) -> None:
        self.connected_mono = time.monotonic()
        self.started_wall = time.time()
        self.status = "in-progress"

    def mark_ended(self, reason: str) -> bool:
        if self.ended:
            return False
        self.status = "ended"
        self.ended_reason = reason
        self.ended_wall = time.time()
        self.ended_mono = time.monotonic()
        self.ended_event.set()
        self.listen.close()
        return True

    def add_message(
        self,
        role: str,
        text: str,
        start_wall: float,
        end_wall: float | None = None,
        duration_ms: float | None = None,
    ) -> None:
        """Append to the GET /call ``messages[]`` (roles system | user | bot | tool)."""
        base = self.started_wall or self.created_wall
        msg: dict[str, Any] = {"role": role, "message": text, "time": int(start_wall * 1000)}
        if end_wall is not None:
            msg["endTime"] = int(end_wall * 1000)
        msg["secondsFromStart"] = round(max(0.0, start_wall - base), 3) if role != "system" else 0
        if end_wall is not None:
            msg["duration"] = int(
                duration_ms if duration_ms is not None else (end_wall - start_wall) * 1000
            )
        if role == "bot":
            msg["source"] = ""
        self.messages.append(msg)

    def urls(self) -> dict[str, str]:
        ws, http = ("wss", "https") if self.secure else ("ws", "http")
        return {
            "websocketCallUrl": f"{ws}://{self.host}/{self.id}/transport",
            "listenUrl": f"{ws}://{self.host}/{self.id}/listen",
            "controlUrl": f"{http}://{self.host}/{self.id}/control",
        }

    def masked(self, text: str, cfg: SimConfig) -> str:
        """`text` (an ended reason a fault made echo them) for the simulator's own log: the
        call's URLs and the keys named, never shown (docs/simulator.md)."""
        for name, url in self.urls().items():
            text = text.replace(url, f"<{name}>")
        for key in filter(None, (cfg.api_key, cfg.public_key)):
            text = text.replace(key, "<api key>")
        return text

    def cost(self) -> float:
        if self.started_wall is None or self.ended_wall is None:
            return 0
        return round((self.ended_wall - self.started_wall) / 60.0 * COST_PER_MINUTE, 4)

    def call_object(self, *, for_get: bool, remaining: int = 9, limit: int = 10) -> dict[str, Any]:
        """The Call object: POST /call's 201 body (for_get=False) or GET /call/{id}'s."""
        urls = self.urls()
        obj: dict[str, Any] = {"id": self.id, "orgId": "sim-org", "type": "vapi.websocketCall"}
        for key in (
            "assistantId",
            "assistantVersion",
            "assistant",
            "assistantOverrides",
            "squadId",
            "squad",
            "workflowId",
            "workflow",
            "name",
            "metadata",
        ):
            if key in self.create_body:
                obj[key] = self.create_body[key]
        obj["status"] = self.status
        if self.ended_reason:
            obj["endedReason"] = self.ended_reason
            obj["endedMessage"] = ended_message(self.ended_reason)
        obj["cost"] = self.cost()
        obj["createdAt"] = iso(self.created_wall)
        obj["updatedAt"] = iso(self.ended_wall or self.started_wall or self.created_wall)
        if self.started_wall is not None:
            obj["startedAt"] = iso(self.started_wall)
        if self.ended_wall is not None:
            obj["endedAt"] = iso(self.ended_wall)
        obj["transport"] = {
            "provider": "vapi.websocket",
            "audioFormat": {
                "format": self.fmt.encoding,
                "container": "raw",
                "sampleRate": self.fmt.rate,
            },
            "websocketCallUrl": urls["websocketCallUrl"],
        }
        monitor = {}
        if self.options.listen_enabled:
            monitor["listenUrl"] = urls["listenUrl"]
        if self.options.control_enabled:
            monitor["controlUrl"] = urls["controlUrl"]
        if for_get:
            obj["monitor"] = monitor
            obj["messages"] = [dict(m) for m in self.messages]
        else:
            if "monitor-in-create" in self.faults:
                obj["monitor"] = monitor
            obj["subscriptionLimits"] = {
                "concurrencyBlocked": False,
                "concurrencyLimit": limit,
                "remainingConcurrentCalls": remaining,
            }
        return obj


class CallRegistry:
    def __init__(self) -> None:
        self.calls: dict[str, CallRecord] = {}

    def add(self, rec: CallRecord) -> None:
        self.calls[rec.id] = rec

    def get(self, call_id: str) -> CallRecord | None:
        return self.calls.get(call_id)

    def active(self) -> int:
        return sum(1 for c in self.calls.values() if not c.ended)
