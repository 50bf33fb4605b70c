"""A key Vapi refuses, found as the daemon starts (or reloads): it exits with code 3.

The daemon tries its API client at once (`wiring.learn_assistant`: `GET /assistant/{id}`,
or a one-call `GET /call` without an id). A 401 (or a 403, a front end blocking this
client) is Vapi's answer, not a network failure: every call would be refused the same way,
and the credential under systemd is copied only at start, so only a restart can take a
mended key. Before, the daemon warned and went on saying "waiting for trigger" — in
`systemctl status`, `ctl status`, the kiosk screen, `/metrics` — until the first visitor's
call was refused and took the kiosk down (exit 3, not restarted). Now it exits with that
refusal as a bad profile exits 2: the one line (where the key came from, the fix), exit 3,
kept in `systemctl status` (`stopped (exit 3): …`). A network down at boot is not a
refusal: the daemon waits on, and the first call tries the key. A call under way as the
refusal comes (it was placed first) is not cut: the daemon exits after it. A key revoked
while the daemon runs is found at the next call, which exits 3 as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bridge.call import wiring
from bridge.errors import AuthError, ExitCode
from bridge.profile import Profile
from bridge.service.jobs import Jobs
from bridge.vapi.api import VapiApi


class KeyCheck:
    """The daemon's API client tried in the background; its refusal kept (`refused`) and
    the daemon stopped (`stopping`) unless a call is under way (`busy()`)."""

    def __init__(self, stopping: asyncio.Event, busy: Callable[[], bool],
                 current: Callable[[], VapiApi | None]) -> None:
        self._stopping, self._busy, self._current = stopping, busy, current
        self.refused: AuthError | None = None

    def start(self, jobs: Jobs, api: VapiApi, profile: Profile) -> None:
        jobs.start(self._check(api, profile))

    async def _check(self, api: VapiApi, profile: Profile) -> None:
        refused = await wiring.learn_assistant(api, profile)
        if refused is None or api is not self._current() or profile.service.mode == "once":
            return  # once: its call's own refusal ends it; a replaced client: not in use
        self.refused = refused
        if not self._busy():
            self._stopping.set()

    def outcome(self, code: int = ExitCode.OK) -> int:
        """As the daemon's modes end: `code`, or the refusal raised (its line, code 3)."""
        if self.refused is not None:
            raise self.refused
        return code
