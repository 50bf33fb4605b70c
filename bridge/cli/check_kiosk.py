"""`check`'s items for the kiosk's own parts, each what `run` would refuse at start: the
`service.on_event` command, the HTTP server's extra, token and address (bound and closed
at once, as `run` would bind it; a port in use, who holds it: another kiosk is named), the
wake word's extra (the profile's loader already refuses a missing one) and the sounds'
files (likewise)."""

from __future__ import annotations

import asyncio
import errno
import importlib
from typing import Any

from bridge.cli.check_item import Item
from bridge.errors import BridgeError, ExitCode, ProfileError
from bridge.extras import missing_extra
from bridge.inert import printable
from bridge.profile import Profile
from bridge.profile.listen import bind_cause, host_port, split_listen
from bridge.service.on_event import command_line
from bridge.web.hook import read_token


class InUse(ProfileError):
    """The address is in use: another process listens on it."""


async def bindable(listen: str) -> None:
    """Binds `http.listen` as the kiosk screen's server does (asyncio's `create_server`, so
    the same addresses and options) and closes it; a ProfileError in `run`'s words if not."""
    address, port = split_listen(listen)
    try:
        server = await asyncio.get_running_loop().create_server(
            asyncio.Protocol, address, port, start_serving=False)
    except OSError as exc:
        error = InUse if exc.errno == errno.EADDRINUSE else ProfileError
        raise error(f"http.listen: cannot listen on {host_port(address, port)}: "
                    f"{bind_cause(exc)} — choose another port or address") from None
    server.close()
    await server.wait_closed()


async def kiosk_items(profile: Profile, running: bool = False,
                      theirs: dict[str, Any] | None = None) -> list[Item]:
    """`check`'s item for each kiosk part the profile turns on; `running`: a daemon serves
    this profile now, and holds its port (no fault) unless it listens elsewhere or says
    (`theirs`: its status's `http`) that it cannot listen."""
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
            token = read_token(profile.http)
            unserved = running and isinstance(theirs, dict) and theirs.get("served") is False
            again = _retried(theirs) if unserved else ""
            try:
                await bindable(profile.http.listen)
            except InUse as exc:
                items.append(await _in_use(profile, what, exc, running, token, again))
                return items
            if unserved and theirs is not None:  # the port is free now: taken at its next try
                where, why = (printable(str(theirs.get(k)), 200) for k in ("listen", "error"))
                items.append(Item(True, what, f"NOT served: the daemon running with this "
                                  f"profile could not listen on {where}: {why} — {again}, "
                                  f"and the port is free now", warn=True))
                return items
            if running:
                items.append(Item(True, what, "free: the daemon running with this profile "
                                  "listens elsewhere (a reload does not move http.listen; a "
                                  "restart does)", warn=True))
                return items
            items.append(Item(True, what, "aiohttp, prometheus-client"))
        except ImportError as exc:
            items.append(Item(False, what, missing_extra(
                "http", "http.listen (the kiosk screen and metrics)", exc.name),
                ExitCode.PROFILE))
        except BridgeError as exc:
            items.append(Item(False, what, str(exc), exc.exit_code))
    return items


async def _in_use(profile: Profile, what: str, exc: InUse, running: bool,
                  token: str | None, again: str = "") -> Item:
    """Who holds the port: the daemon running with this profile (asked with its token),
    another kiosk (named, as `run` names it: a profile copied with its port), or something
    else."""
    from bridge.web.holder import ANOTHER, described, holding_profile  # (aiohttp: above)

    address, port = split_listen(str(profile.http.listen))
    name = await holding_profile(address, port, token if running else None)
    if running and name == profile.name:  # by that daemon, as it should be
        return Item(True, what, "held by the daemon running with this profile")
    if name == profile.name:  # its daemon, whose socket is out of this user's reach
        return Item(True, what, f"held by the kiosk screen of this profile ({profile.name}): "
                    f"a daemon running with it whose control socket this user does not "
                    f"reach (another user's, as the system unit's): check as its user",
                    warn=True)
    if name is None and not running:
        return Item(False, what, str(exc), exc.exit_code)
    if name is None:
        why = f", which cannot listen there ({again})" if again else \
            " (it does not answer there as its screen): its `ctl status` says whether it " \
            "serves one"
        return Item(False, what, f"{exc}; not by the daemon running with this profile{why}",
                    exc.exit_code)
    where = host_port(address, port)
    if running and name == ANOTHER:  # (asked with this profile's token)
        return Item(False, what, f"http.listen: cannot listen on {where}: Address already in "
                    f"use (a vapi-bridge screen that refuses {profile.http.token_env}'s "
                    f"token: the daemon running with this profile was given another, or "
                    f"another kiosk holds the port)", exc.exit_code)
    return Item(False, what, f"http.listen: cannot listen on {where}: Address already in use "
                f"({described(name)}) — give this profile ({profile.name}) an http.listen "
                f"of its own: `run` would take calls without its screen, and a browser "
                f"opened for one kiosk would show the other's", exc.exit_code)


def _retried(theirs: dict[str, Any] | None) -> str:
    """How often the daemon tries its port again, as its status says (`retrySeconds`)."""
    every = (theirs or {}).get("retrySeconds")
    return f"it tries again every {every:g} s" if isinstance(every, int | float) and \
        not isinstance(every, bool) else "it tries again"
