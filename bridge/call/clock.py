"""A call's clock (`Call.clock`)."""

from __future__ import annotations

import time


class CallClock:
    """A call's length: from its socket's opening (IN_CALL) to its close (ENDED), or to now
    while it lasts (monotonic) — what `ctl status`, the state line and the summary say."""

    def __init__(self) -> None:
        self.started = self.stopped = 0.0

    def start(self) -> None:
        self.started = time.monotonic()

    def stop(self) -> None:
        self.stopped = self.stopped or time.monotonic()

    @property
    def elapsed_s(self) -> float:
        return (self.stopped or time.monotonic()) - self.started if self.started else 0.0
