"""The operator's `say`s Vapi took, in order, until the replies that speak them begin: which
reply is a line the visitor may not interrupt (`interruptionsEnabled: false`).

Vapi names no say in its events: a say is spoken as the next reply that begins after it
was sent (at once with `interruptAssistantEnabled`, else after the reply under way), one
reply each, in the order sent. A say Vapi never speaks (lost, or spoken much later: the
controlUrl's say has come up to 10 s late) would take a later reply of the model's for it,
so a say not begun within `SAY_WAIT_S` is forgotten.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

SAY_WAIT_S = 12.0


class Says:
    def __init__(self) -> None:
        self._pending: deque[tuple[float, bool]] = deque()  # (sent at, may not interrupt)
        self.unbroken = False  # the reply begun last is a say the visitor may not interrupt

    def sent(self, command: Mapping[str, Any], now: float) -> None:
        """A command Vapi took (`BargeIn.after_command`): a say is noted."""
        if command.get("type") == "say":
            self._pending.append((now, command.get("interruptionsEnabled") is False))

    def reply_began(self, now: float) -> None:
        """A new reply of the assistant's has begun: the oldest say still awaited, if any."""
        while self._pending and now - self._pending[0][0] > SAY_WAIT_S:
            self._pending.popleft()
        self.unbroken = bool(self._pending) and self._pending.popleft()[1]
