"""Another daemon's control socket, seen from a daemon about to bind its own or from
`check`: whether one answers there, what its `status` says, and the `ctl` that it answers
for whoever typed the command (a hint that works: as the daemon's user when it refuses
this one, root included; through this installation's program by its path), and what stops
it (its systemd unit, or its process)."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import socket
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bridge.errors import BridgeError
from bridge.extras import program
from bridge.inert import printable

UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


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


async def peer_pid(path: Path) -> int | None:
    """The process that listens on `path` (SO_PEERCRED); None when none answers."""
    try:
        async with asyncio.timeout(2):
            _, writer = await asyncio.open_unix_connection(str(path))
    except (OSError, TimeoutError):
        return None
    try:
        raw = writer.get_extra_info("socket").getsockopt(socket.SOL_SOCKET,
                                                         socket.SO_PEERCRED, UCRED.size)
        pid: int | None = UCRED.unpack(raw)[0] or None
    except (OSError, AttributeError, struct.error):
        pid = None
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return pid


def unit_stop(cgroup: str) -> str | None:
    """`systemctl stop UNIT` for the vapi-bridge unit that a process runs in, by its
    /proc/PID/cgroup (v2's `0::` line or v1's `name=systemd`; `systemctl --user` for a
    user's unit); None outside one (a shell, cron, a container, another program's unit)."""
    for line in cgroup.splitlines():
        _, _, rest = line.partition(":")
        controllers, _, where = rest.partition(":")
        if controllers not in ("", "name=systemd"):
            continue
        *parents, unit = where.strip().split("/")
        if unit.startswith("vapi-bridge") and unit.endswith(".service"):
            user = any(p.startswith("user@") and p.endswith(".service") for p in parents)
            return f"systemctl {'--user ' if user else ''}stop " \
                f"{shlex.quote(printable(unit, 200))}"
    return None


async def stop_hint(path: Path) -> str | None:
    """What stops the daemon answering on `path`: `systemctl stop UNIT` when systemd runs
    it, else `kill PID` (a daemon started from a shell: there is no unit to stop, and
    before, the refusal said `systemctl stop vapi-bridge@NAME` all the same); None when it
    cannot be told."""
    pid = await peer_pid(path)
    if pid is None:
        return None
    try:
        cgroup = Path(f"/proc/{pid}/cgroup").read_text(errors="replace")
    except OSError:
        cgroup = ""
    return unit_stop(cgroup) or f"kill {pid}: its process, not a systemd unit"
