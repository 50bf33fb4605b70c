"""The one retry policy: how many attempts, and how long to wait before each retry.

Used by every place that tries again — REST requests (`vapi/api.py`), opening the call
socket (`vapi/socket.py`), reopening a lost audio device (`audio/device_health.py`) and the
daemon's loop backoff (`service/progress.py`) — so a reader learns one rule: exponential
backoff from `base_delay`, capped at `max_delay`, with full jitter (a wait drawn from the
upper half of the step) unless `jitter` is off, and `rate_limit_delay` as the base when
the other side said it is overloaded (429).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # in all, the first one included
    base_delay: float = 1.0  # seconds before the first retry
    max_delay: float = 30.0
    rate_limit_delay: float = 20.0
    jitter: bool = True  # on where many clients may retry at once (a server's outage)

    def delay(self, attempt: int, rate_limited: bool = False) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        base = self.rate_limit_delay if rate_limited else self.base_delay
        ceiling = min(self.max_delay, base * (2 ** (max(attempt, 1) - 1)))
        return random.uniform(ceiling / 2, ceiling) if self.jitter else ceiling


# Opening the call socket: its URL is valid for a short while after the create, so a few
# quick tries; no jitter (one kiosk, one URL).
SOCKET_CONNECT = RetryPolicy(attempts=3, base_delay=0.5, max_delay=1.0, jitter=False)
# Reopening a lost audio device: fast first (a USB replug), then slower.
DEVICE_REOPEN = RetryPolicy(attempts=3, base_delay=0.2, max_delay=1.0, jitter=False)
