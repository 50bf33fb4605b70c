"""`check`'s items for the kiosk's own parts, each what `run` would refuse at start: the
`service.on_event` command, the HTTP server's extra, token and address (bound and closed
at once, as `run` would bind it), the wake word's extra (the profile's loader already
refuses a missing one) and the sounds' files (likewise)."""

from __future__ import annotations

import asyncio
import importlib

from bridge.cli.check_item import Item
from bridge.errors import BridgeError, ExitCode, ProfileError
from bridge.extras import missing_extra
from bridge.profile import Profile
from bridge.profile.listen import bind_cause, split_listen
from bridge.service.on_event import command_line
from bridge.web.hook import read_token


async def bindable(listen: str) -> None:
    """Binds `http.listen` as the kiosk screen's server does (asyncio's `create_server`, so
    the same addresses and options) and closes it; a ProfileError in `run`'s words if not."""
    address, port = split_listen(listen)
    try:
        server = await asyncio.get_running_loop().create_server(
            asyncio.Protocol, address, port, start_serving=False)
    except OSError as exc:
        raise ProfileError(f"http.listen: cannot listen on {address}:{port}: "
                           f"{bind_cause(exc)} — choose another port or address"
                           ) from None
    server.close()
    await server.wait_closed()


async def kiosk_items(profile: Profile, running: bool = False) -> list[Item]:
    """`check`'s item for each kiosk part the profile turns on; `running`: a daemon serves
    this profile now, and holds its port (no fault) unless it listens elsewhere."""
    items: list[Item] = []
    if profile.service.on_event:
        what = "service.on_event runnable"
        try:
            argv = command_line(profile)
            items.append(Item(True, what, argv[0] if argv else ""))
        except BridgeError as exc:
            items.append(Item(False, what, str(exc), exc.exit_code))
    if profile.http.listen:
        what = f"kiosk screen (http.listen {profile.http.listen}) available"
        try:
            for module in ("aiohttp", "prometheus_client"):
                importlib.import_module(module)
            read_token(profile.http)
            if running:
                try:
                    await bindable(profile.http.listen)
                except BridgeError:  # in use: by that daemon, as it should be
                    items.append(Item(True, what, "held by the daemon running with this "
                                      "profile"))
                    return items
                items.append(Item(True, what, "free: the daemon running with this profile "
                                  "listens elsewhere (a reload does not move http.listen; a "
                                  "restart does)", warn=True))
                return items
            await bindable(profile.http.listen)
            items.append(Item(True, what, "aiohttp, prometheus-client"))
        except ImportError as exc:
            items.append(Item(False, what, missing_extra(
                "http", "http.listen (the kiosk screen and metrics)", exc.name),
                ExitCode.PROFILE))
        except BridgeError as exc:
            items.append(Item(False, what, str(exc), exc.exit_code))
    return items
