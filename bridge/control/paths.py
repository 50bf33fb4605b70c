"""Where a daemon's control socket lives.

The daemon binds, in order: `service.control_socket` (relative to the profile's
directory); `$RUNTIME_DIRECTORY/<profile>.sock` (systemd; the first of several
':'-separated paths); `$XDG_RUNTIME_DIR/vapi-bridge/<profile>.sock`;
`/tmp/vapi-bridge-<uid>/<profile>.sock` (a 0700 directory this user owns). Not under
$TMPDIR, as tmux's /tmp/tmux-UID is not: a login shell's TMPDIR (pam_tmpdir's
/tmp/user/UID), sudo's reset environment, cron's and a `nohup` from elsewhere differ, and a
daemon and a `ctl` that saw two did not find each other (nor a second `run` the first).

`ctl`, run from an operator's shell, has no `$RUNTIME_DIRECTORY`: it looks in the same
places plus `/run/vapi-bridge` (the system unit's RuntimeDirectory) and
`$TMPDIR/vapi-bridge-<uid>` (where versions before this one bound), and takes the first
socket that answers (`bridge.control.client.find_socket`: one a killed daemon left is
none). It looks in `/tmp/vapi-bridge-<uid>` with `$XDG_RUNTIME_DIR` set too: a login
shell's (pam_systemd's, beside pam_tmpdir's TMPDIR) did not find a daemon started without
it (cron, sudo, a console), and its `run` started a second one on the same devices; and,
with `$XDG_RUNTIME_DIR` unset, in `/run/user/<uid>/vapi-bridge` (a login session's, where
pam_systemd puts it) when this user owns `/run/user/<uid>`: the same, the other way round.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.errors import ProfileError

if TYPE_CHECKING:  # `ctl` finds a socket without loading the profile machinery
    from bridge.profile.model import Profile

SYSTEM_RUNTIME_DIR = Path("/run/vapi-bridge")
USER_RUNTIME_ROOT = Path("/run/user")  # pam_systemd's $XDG_RUNTIME_DIR is /run/user/UID
MAX_PATH_BYTES = 107  # sun_path is 108 bytes with the terminating NUL


def tmp_dir() -> Path:
    """The daemon's directory without $RUNTIME_DIRECTORY or $XDG_RUNTIME_DIR: not TMPDIR's."""
    return Path("/tmp") / f"vapi-bridge-{os.getuid()}"


def env_tmp_dir(env: Mapping[str, str]) -> Path:
    """$TMPDIR's (/tmp when unset): where a daemon of an earlier version bound."""
    return Path(env.get("TMPDIR") or "/tmp") / f"vapi-bridge-{os.getuid()}"


def _first(value: str | None) -> Path | None:
    if not value:
        return None
    head = value.split(":")[0].strip()
    return Path(head) if head else None


def explicit_path(profile: Profile) -> Path | None:
    configured = profile.service.control_socket
    if not configured:
        return None
    path = Path(configured).expanduser()
    return path if path.is_absolute() else profile.directory / path


def default_dirs(env: Mapping[str, str] | None = None, *, for_client: bool = False
                 ) -> list[Path]:
    """Directories holding `<profile>.sock`, most specific first."""
    env = os.environ if env is None else env
    dirs: list[Path] = []
    runtime = _first(env.get("RUNTIME_DIRECTORY"))
    if runtime is not None:
        dirs.append(runtime)
    if for_client:
        dirs.append(SYSTEM_RUNTIME_DIR)
    xdg = _first(env.get("XDG_RUNTIME_DIR"))
    if xdg is not None:
        dirs.append(xdg / "vapi-bridge")
    elif for_client and _owned(session := USER_RUNTIME_ROOT / str(os.getuid())):
        dirs.append(session / "vapi-bridge")  # a login session's daemon, seen from cron,
        # sudo or a console (no XDG): `ctl` did not find it, and `run` started a second one
    if xdg is None or for_client:  # (for `ctl`: a daemon started without it: cron, sudo,
        dirs.append(tmp_dir())  # a console)
    if for_client:
        shared = (tmp_dir(), env_tmp_dir(env))
        if shared[1] not in dirs:
            dirs.append(shared[1])
        # `ctl` (and `run`, asking whether a daemon runs) looks in /tmp/vapi-bridge-UID and
        # $TMPDIR/vapi-bridge-UID only if this user owns them (or they are absent): another
        # user who made one first would answer this user's commands, and be taken for a
        # daemon already running (the daemon refuses the directory: `prepare_directory`).
        # Before, with TMPDIR unset, /tmp/vapi-bridge-UID came back as $TMPDIR's, looked in
        # whoever owned it.
        dirs = [d for d in dirs if d not in shared or _owned(d, absent=True)]
    return dirs


def _owned(directory: Path, *, absent: bool = False) -> bool:
    """A directory (not a symlink) that this user owns; `absent`: the answer when there is
    none (or it cannot be seen)."""
    try:
        info = directory.lstat()
    except OSError:
        return absent
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()


def socket_path(profile: Profile, env: Mapping[str, str] | None = None) -> Path:
    """The path the daemon binds for this profile."""
    return explicit_path(profile) or default_dirs(env)[0] / f"{profile.name}.sock"


def client_candidates(profile: Profile | None, name: str | None = None,
                      env: Mapping[str, str] | None = None) -> list[Path]:
    """Where `ctl` looks for a daemon's socket, in order."""
    if profile is not None:
        explicit = explicit_path(profile)
        if explicit is not None:
            return [explicit]
        name = profile.name
    if name:
        return [d / f"{name}.sock" for d in default_dirs(env, for_client=True)]
    return []


def discover(env: Mapping[str, str] | None = None,
             answering: Callable[[Path], bool] | None = None) -> list[Path]:
    """Every live-looking socket in the default directories (for `ctl` without --profile).
    With $XDG_RUNTIME_DIR set, /tmp/vapi-bridge-UID's only when nothing answers in the
    others: a login session's `ctl` picks among its own daemons, the system unit's and
    $TMPDIR's (not one started without XDG, by cron or a console, beside them: "several
    daemons"), and finds that one when it is the only one (a plain login shell, whose
    TMPDIR is unset, said "no control socket in …" naming the directory that held it) —
    also beside sockets a crash left there (a system daemon's in /run/vapi-bridge, kept by
    RuntimeDirectoryPreserve: before, `ctl status` took that one and said "stale socket").
    `answering`: `answers`, or the caller's own (`find_socket`'s asks each socket once)."""
    answering = answers if answering is None else answering
    env = os.environ if env is None else env
    dirs = default_dirs(env, for_client=True)
    if _first(env.get("XDG_RUNTIME_DIR")) is None or tmp_dir() not in dirs:
        return _sockets(dirs)
    own = _sockets([d for d in dirs if d != tmp_dir()])
    others = [path for path in _sockets([tmp_dir()]) if path not in own]
    if not others or any(answering(path) for path in own):  # (none to choose: none asked)
        return own
    return own + others


def answers(path: Path) -> bool:
    """A daemon accepts connections there (refused: a socket file nothing listens on; any
    other error, such as another user's socket, is left for the request to say)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:
            return True
    return True


def _sockets(dirs: list[Path]) -> list[Path]:
    found: list[Path] = []
    for directory in dirs:
        try:
            entries = sorted(directory.glob("*.sock"))
        except OSError:
            continue
        for entry in entries:
            try:
                if stat.S_ISSOCK(entry.stat().st_mode) and entry not in found:
                    found.append(entry)
            except OSError:
                continue
    return found


def prepare_directory(path: Path) -> None:
    """Create the socket's directory (0700) if needed; refuse one another user controls."""
    if len(os.fsencode(str(path))) > MAX_PATH_BYTES:
        raise ProfileError(f"control socket path too long for a Unix socket ({path}); set "
                           f"service.control_socket to a shorter path")
    parent = path.parent
    try:
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = parent.lstat()
    except OSError as exc:
        raise ProfileError(f"cannot create the control socket directory {parent}: "
                           f"{exc.strerror} — set service.control_socket") from None
    if stat.S_ISLNK(info.st_mode):
        raise ProfileError(f"the control socket directory {parent} is a symlink; refusing it")
    if parent == tmp_dir() and (info.st_uid != os.getuid() or info.st_mode & 0o077):
        raise ProfileError(f"{parent} belongs to another user or is open to others; remove "
                           f"it or set service.control_socket")
