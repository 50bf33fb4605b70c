"""Another daemon's control socket, seen from a daemon about to bind its own or from
`check`: whether one answers there, what its `status` says, and the `ctl` that it answers
for whoever typed the command (a hint that works: as the daemon's user when it refuses
this one, root included; through this installation's program by its path), and what stops
it (its systemd unit, or its process)."""

from __future__ import annotations

import asyncio
import shlex
import socket
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.control.client import connect, read_answer
from bridge.errors import BridgeError
from bridge.extras import program
from bridge.inert import printable

UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class Peer:
    """The daemon answering on a control socket: its process (SO_PEERCRED; None when it
    cannot be told) and its `status` answer (a refusal's too: it names the `ctl` that would
    be answered; {} when it gives none that reads)."""

    pid: int | None
    status: dict[str, Any]

    @property
    def profile(self) -> str | None:
        """The profile it runs, as its status says; None when it says none."""
        name = self.status.get("profile")
        return name if isinstance(name, str) else None


async def probe(path: Path, timeout: float = 2.0) -> Peer | None:
    """The daemon answering on `path`, asked once (one connection: its pid and its
    `status`, all within `timeout` s), or None when nothing takes the connection (refused,
    gone, another user's directory, no answer in time). Before, `run`'s refusal beside a
    daemon connected three times: to see that one answers, to learn its pid, to ask its
    status."""
    return await asyncio.to_thread(_probe, path, timeout)


def _probe(path: Path, timeout: float) -> Peer | None:
    """Through `ctl`'s own client (blocking: a daemon that refuses this uid answers and
    closes before the request is sent, and an asyncio stream then lost the answer with the
    broken pipe: 1 in 2 `check`s beside another user's daemon missed the refusal's `ctl`)."""
    deadline = time.monotonic() + timeout  # the whole probe's, not each read's
    try:
        sock = connect(path, {"cmd": "status"}, timeout)
    except BridgeError:  # refused, gone, another user's directory, no answer in time
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, UCRED.size)
        pid: int | None = UCRED.unpack(raw)[0] or None
    except (OSError, struct.error):
        pid = None
    try:
        answer = read_answer(path, sock, timeout, deadline)
    except BridgeError:  # closed without one, no JSON, no answer in time
        answer = {}
    return Peer(pid, answer)


def ctl_command(status: Mapping[str, Any]) -> str:
    """The `ctl` that the daemon whose `status` answer this is answers: as its user when it
    refused this one (its refusal names the command: `sudo -u vapi-bridge /opt/…/vapi-bridge
    ctl`), else this installation's program (`/opt/…/vapi-bridge ctl`: on no PATH there)."""
    ctl = status.get("ctl") if status.get("kind") == "refused" else None
    return printable(ctl, 300) if isinstance(ctl, str) else f"{program()} ctl"


def ctl_hint(path: Path, peer: Peer) -> str:
    """`CTL --socket PATH`, a command that `peer`, the daemon answering on `path`, answers."""
    return f"{ctl_command(peer.status)} --socket {shlex.quote(str(path))}"


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


def stop_hint(peer: Peer) -> str | None:
    """What stops `peer`: `systemctl stop UNIT` when systemd runs it, else `kill PID` (a
    daemon started from a shell: there is no unit to stop, and before, the refusal said
    `systemctl stop vapi-bridge@NAME` all the same); None when it cannot be told."""
    if peer.pid is None:
        return None
    try:
        cgroup = Path(f"/proc/{peer.pid}/cgroup").read_text(errors="replace")
    except OSError:
        cgroup = ""
    return unit_stop(cgroup) or f"kill {peer.pid}: its process, not a systemd unit"
