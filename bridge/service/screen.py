"""The kiosk screen in systemd's STATUS= line: a screen whose `http.listen` cannot be
listened on (another process, or another kiosk, holds the port; the web server tries again
every few seconds) is said in it, as the journal's warning and `ctl status` say it, so
`systemctl status` does not show "waiting for trigger" alone while visitors' screen is
dark. The line is sent again as the screen comes up (or goes on failing for another
cause), not only at the daemon's next state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from bridge.service.snapshot import Serving


@runtime_checkable
class Watched(Protocol):
    def watch(self, changed: Callable[[], None]) -> None:
        """`changed()` called each time `serving()` moves (served, or why not)."""
        ...


class Screen:
    """What the daemon's hooks serve (the HTTP server's state), and its STATUS= note."""

    def __init__(self, resend: Callable[[], None]) -> None:
        self.served: list[object] = []
        self._resend = resend  # the STATUS= line sent again

    def add(self, server: object) -> None:
        self.served.append(server)
        if isinstance(server, Watched):
            server.watch(self._resend)

    @property
    def note(self) -> str:
        """"; kiosk screen not served on 127.0.0.1:8181: Address already in use (…)" while
        it is not, else nothing."""
        for server in self.served:
            http = server.serving() if isinstance(server, Serving) else None
            if http and not http.get("served"):
                return f"; kiosk screen not served on {http['listen']}: {http['error']}"
        return ""
