"""When the kiosk's last call that ended normally ended, kept in the state directory
(`last-ok-PROFILE`, a unix time), so `vapi_bridge_last_ok_call_end_timestamp_seconds`
holds across a restart. Kept in memory only, it was 0 after every restart, reboot or
upgrade, and the alert the README proposes (`time() - …` over a day) fired until a visitor
called.

Until a good call has ended (a new profile, or a state directory lost) the metric has no
series at all, as Prometheus advises for a timestamp not known yet: before, it was 0, and
`time() - vapi_bridge_last_ok_call_end_timestamp_seconds` read 56 years, firing the alert
on a kiosk just installed (an alert wanting one good call a day: `absent(…)` finds it)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bridge.profile.statedir import replace_text, save_fix, state_file

log = logging.getLogger("bridge.http")

MAX_BYTES = 64
NAME = "vapi_bridge_last_ok_call_end_timestamp_seconds"
HELP = ("When the last call that ended normally ended (unix time); no series until one "
        "has")


class LastOk(Collector):
    """The metric: the time kept for `profile_name` (none: nothing kept, nor read), or no
    series before the first good call."""

    def __init__(self, profile_name: str) -> None:
        self.profile_name = profile_name
        self.at = read(profile_name) if profile_name else None

    def ended(self, at: float) -> None:
        """A call ended normally at `at` (unix time): the metric, and the state file."""
        self.at = at
        if self.profile_name:
            write(self.profile_name, at)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(NAME, HELP)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.at is not None:
            yield GaugeMetricFamily(NAME, HELP, value=self.at)


def read(profile_name: str) -> float | None:
    """The stored time, or None (none yet, or unreadable: a fresh start)."""
    try:
        with state_file("last-ok", profile_name, "").open("rb") as f:
            at = float(f.read(MAX_BYTES).decode("ascii").strip())
    except (OSError, ValueError):
        return None
    return at if math.isfinite(at) and at > 0 else None


def write(profile_name: str, at: float) -> None:
    path = state_file("last-ok", profile_name, "")
    try:
        replace_text(path, f"{at:.3f}\n")
    except OSError as exc:
        log.warning("cannot keep the last good call's end in %s (%s): the metric starts "
                    "from nothing after a restart — %s", path, exc.strerror or exc,
                    save_fix(path, exc))
