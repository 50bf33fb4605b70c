"""Another daemon's control socket, seen from a daemon about to bind its own or from
`check`: whether one answers there, what its `status` says, and the `ctl` that it answers
for whoever typed the command (a hint that works: as the daemon's user when it refuses
this one, root included; through this installation's program by its path)."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bridge.errors import BridgeError
from bridge.extras import program
from bridge.inert import printable


async def is_live(path: Path) -> bool:
    try:
        async with asyncio.timeout(2):
            _, writer = await asyncio.open_unix_connection(str(path))
    except (OSError, TimeoutError):  # refused, gone, another user's directory
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


async def their_status(path: Path) -> dict[str, Any]:
    """The `status` answer of the daemon answering on `path` (a refusal's too: it names the
    `ctl` that would be answered); {} if none. Through `ctl`'s own client: a daemon that
    refuses this uid answers and closes before the request is sent, and an asyncio stream
    then lost the answer with the broken pipe (1 in 2 `check`s beside another user's daemon
    missed the refusal's `ctl`)."""
    from bridge.control.client import request

    try:
        answer = await asyncio.to_thread(request, path, {"cmd": "status"}, 2.0)
    except (BridgeError, OSError, ValueError):
        return {}
    return answer if isinstance(answer, dict) else {}


async def their_profile(path: Path) -> str | None:
    """The profile of the daemon answering on `path` (its `status`), None if it says none."""
    name = (await their_status(path)).get("profile")
    return name if isinstance(name, str) else None


def ctl_command(status: Mapping[str, Any]) -> str:
    """The `ctl` that the daemon whose `status` answer this is answers: as its user when it
    refused this one (its refusal names the command: `sudo -u vapi-bridge /opt/…/vapi-bridge
    ctl`), else this installation's program (`/opt/…/vapi-bridge ctl`: on no PATH there)."""
    ctl = status.get("ctl") if status.get("kind") == "refused" else None
    return printable(ctl, 300) if isinstance(ctl, str) else f"{program()} ctl"


async def ctl_hint(path: Path) -> str:
    """`CTL --socket PATH`, a command that the daemon answering on `path` answers."""
    return f"{ctl_command(await their_status(path))} --socket {shlex.quote(str(path))}"
