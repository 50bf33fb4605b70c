"""The operator's `say`s Vapi took, in order, until the replies that speak them begin: which
reply is a line the visitor may not interrupt (`interruptionsEnabled: false`).

Vapi names no say in its events: a say is spoken as the next reply that begins after it
was sent (at once with `interruptAssistantEnabled`, else after the reply under way), one
reply each, in the order sent. A say Vapi never speaks (lost, or spoken much later: the
controlUrl's say has come up to 10 s late) would take a later reply of the model's for it,
so a say not begun within `SAY_WAIT_S` is forgotten: counted from when it was sent, or from
the end of the reply it waited behind (a say sent during a 15 s line was forgotten before it
began); a say Vapi refused (the controlUrl's 4xx, or a POST that never reached it) is
`withdrawn`, or the model's next reply would have been taken for it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

SAY_WAIT_S = 12.0


class Says:
    def __init__(self) -> None:
        # (sent at, or the end of the reply it waited behind; may not interrupt; the command)
        self._pending: deque[tuple[float, bool, Mapping[str, Any]]] = deque()
        self.unbroken = False  # the reply begun last is a say the visitor may not interrupt

    def sent(self, command: Mapping[str, Any], now: float) -> None:
        """A command Vapi took (`BargeIn.after_command`): a say is noted."""
        if command.get("type") == "say":
            self._pending.append((now, command.get("interruptionsEnabled") is False, command))

    def withdrawn(self, command: Mapping[str, Any]) -> None:
        """A say told as it was POSTed that Vapi did not take: no reply will speak it."""
        self._pending = deque(say for say in self._pending if say[2] is not command)

    def reply_stopped(self, now: float) -> None:
        """A reply is over: the says that waited behind it count their wait from now."""
        self._pending = deque((max(at, now), unbroken, command)
                              for at, unbroken, command in self._pending)

    def reply_began(self, now: float) -> None:
        """A new reply of the assistant's has begun: the oldest say still awaited, if any."""
        while self._pending and now - self._pending[0][0] > SAY_WAIT_S:
            self._pending.popleft()
        self.unbroken = bool(self._pending) and self._pending.popleft()[1]
