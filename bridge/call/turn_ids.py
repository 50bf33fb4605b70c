"""What Vapi's `turnId`s say about a `user-interrupted` (`BargeIn`): the `model-output`s name
the LLM response each reply speaks, and `user-interrupted` the one it cut.

A `turnId` already cut is no new cut: the event said again (late, maybe in the next reply).
One older than the playing reply's (the newest `model-output` as it began) is about a reply
that is over (it flushed the next: 2.8 s of a 4 s answer). But Vapi reuses a `turnId` across
replies (recorded: one shared by two `model-output`s 12 s apart): a reply that begins after
a cut with that cut `turnId` as the newest `model-output` since the cut speaks under it, and
a `user-interrupted` naming it says nothing of which reply it cuts (taken for the earlier
cut said again, a second real cut was ignored: 266 ms heard over the visitor). A `turnId`
never seen before since the last cut and reply (`fresh`) means a new reply is coming.
"""

from __future__ import annotations

from collections import deque
from enum import Enum


class Named(Enum):
    """What a user-interrupted's `turnId` makes of it."""

    NEW = "new"  # a reply not cut yet: a cut
    AGAIN = "again"  # a reply cut already: said again
    BEFORE = "before"  # a reply before the playing one: late
    UNKNOWN = "unknown"  # none, or one reused across replies: the turnId cannot tell


class TurnIds:
    def __init__(self) -> None:
        self._outputs: deque[str] = deque(maxlen=16)  # model-output turnIds, oldest first
        self._cut: deque[str] = deque(maxlen=8)  # those user-interrupted named
        self._reused: deque[str] = deque(maxlen=8)  # cut ones a later reply speaks under
        self._reply: str | None = None  # the newest output as the playing reply began
        self._since_cut: str | None = None  # the latest output's since the last cut
        self.fresh = False  # an output with a turnId never seen before since the last cut

    def output(self, turn_id: object) -> None:
        """A model-output's `turnId` (hostile text: bounded, else ignored)."""
        if not (isinstance(turn_id, str) and 0 < len(turn_id) <= 128):
            return
        self._since_cut = turn_id
        if turn_id not in self._outputs:
            self._outputs.append(turn_id)
            self.fresh = True

    def reply_began(self) -> None:
        self._reply, self.fresh = self._outputs[-1] if self._outputs else None, False
        reused = self._since_cut
        if reused is not None and reused in self._cut:
            self._cut.remove(reused)
            self._reused.append(reused)

    def cut(self) -> None:
        """A user-interrupted cut the reply."""
        self._since_cut, self.fresh = None, False

    def judge(self, turn_id: str | None) -> Named:
        """What a user-interrupted naming `turn_id` is; a NEW one is taken as cut."""
        if turn_id is None or turn_id in self._reused:
            return Named.UNKNOWN
        if turn_id in self._cut:
            return Named.AGAIN
        outputs, now = list(self._outputs), self._reply
        if now is not None and turn_id in outputs and \
                outputs.index(turn_id) < outputs.index(now):
            return Named.BEFORE
        self._cut.append(turn_id)
        return Named.NEW
