"""When the kiosk's last call that ended normally ended, kept in the state directory
(`last-ok-PROFILE`, a unix time), so `vapi_bridge_last_ok_call_end_timestamp_seconds`
holds across a restart. Kept in memory only, it was 0 after every restart, reboot or
upgrade, and the alert the README proposes (`time() - …` over a day) fired until a visitor
called."""

from __future__ import annotations

import logging
import math

from bridge.profile.statedir import replace_text, save_fix, state_file

log = logging.getLogger("bridge.http")

MAX_BYTES = 64


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
