"""The port a call's parts are handed instead of the whole ``CallSession``.

The session builds and drives its parts — the voice, barge-in decisions, the assistant,
client commands, the timed socket faults — and each of them acts back on the call. They
see it through ``CallPort``: only what they use, so none of them imports the session and
the session ↔ parts import cycle is open. ``CallSession`` implements it structurally.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import numpy as np

from bridge.sim.calls import CallRecord, LiveCall
from bridge.sim.config import SimConfig
from bridge.sim.downlink import DownlinkPump
from bridge.sim.outbox import Outbox
from bridge.sim.speech import Synth


class Speaker(Protocol):
    """The assistant's voice queue, as the parts steer it."""

    @property
    def idle(self) -> bool: ...  # nothing speaking, nothing queued
    def interrupt(self) -> None: ...  # barge-in: stop the line, drop the queued ones


class FirstMessage(Protocol):
    """The call's assistant, as ``say-first-message`` asks it."""

    def first_message_text(self, s: CallPort, *, for_command: bool = False) -> str | None: ...


class CallPort(LiveCall, Protocol):
    """One connected call, as its parts act on it (beside what ``LiveCall`` offers)."""

    rate: int
    blackholed: bool  # ws-drop: the socket reads and writes nothing
    linger_s: float  # ws-close-1006=S@H, power-cut=H: the call stays in progress H s more
    unblackhole: asyncio.Event
    assistant_id: str | None

    @property
    def rec(self) -> CallRecord: ...
    @property
    def cfg(self) -> SimConfig: ...
    @property
    def synth(self) -> Synth: ...
    @property
    def voice(self) -> Speaker: ...
    @property
    def assistant(self) -> FirstMessage: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def pump(self) -> DownlinkPump | None: ...

    def say(
        self,
        text: str,
        *,
        pcm: np.ndarray | None = None,
        from_model: bool = True,
        interruptible: bool = True,
        after: str | None = None,
        silent: bool = False,
        **meta: Any,
    ) -> None: ...
    def emit(self, event: dict[str, Any]) -> None: ...
    def emit_conversation(self) -> None: ...
    def wall_at(self, stream_pos: int) -> float: ...
    def end(self, reason: str, *, notify: bool = True) -> None: ...
    def end_later(self, reason: str, delay: float = 0.3) -> None: ...
