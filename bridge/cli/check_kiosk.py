"""`check`'s items for the kiosk's own parts, each what `run` would refuse at start: the
`service.on_event` command, the HTTP server's extra and token, the wake word's extra (the
profile's loader already refuses a missing one) and the sounds' files (likewise)."""

from __future__ import annotations

import importlib

from bridge.errors import BridgeError, ExitCode
from bridge.extras import missing_extra
from bridge.profile import Profile
from bridge.service.on_event import command_line
from bridge.web.hook import read_token


def kiosk_items(profile: Profile) -> list[tuple[bool, str, str, int]]:
    """(ok, what, detail, exit code) for each kiosk part the profile turns on."""
    items: list[tuple[bool, str, str, int]] = []
    if profile.service.on_event:
        what = "service.on_event runnable"
        try:
            argv = command_line(profile)
            items.append((True, what, argv[0] if argv else "", ExitCode.OK))
        except BridgeError as exc:
            items.append((False, what, str(exc), exc.exit_code))
    if profile.http.listen:
        what = f"kiosk screen (http.listen {profile.http.listen}) available"
        try:
            for module in ("aiohttp", "prometheus_client"):
                importlib.import_module(module)
            read_token(profile.http)
            items.append((True, what, "aiohttp, prometheus-client", ExitCode.OK))
        except ImportError as exc:
            items.append((False, what, missing_extra(
                "http", "http.listen (the kiosk screen and metrics)", exc.name),
                ExitCode.PROFILE))
        except BridgeError as exc:
            items.append((False, what, str(exc), exc.exit_code))
    return items
