"""Where a profile's daemon keeps what outlives it (the spending guard's totals, when its
last good call ended): systemd's StateDirectory, else the XDG state home."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path


def state_dir() -> Path:
    given = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if given:
        return Path(given)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg and Path(xdg).is_absolute()
            else Path.home() / ".local" / "state") / "vapi-bridge"


def state_file(kind: str, profile_name: str, suffix: str = ".json") -> Path:
    """`STATE_DIR/KIND-PROFILE.SUFFIX`, the profile's name made safe as a file name."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", profile_name)[:100]
    return state_dir() / f"{kind}-{name}{suffix}"


def replace_text(path: Path, text: str, *, private: bool = False, durable: bool = True) -> None:
    """`path` made to hold `text` at once (a temporary file renamed over it: a reader, or a
    crash midway, never sees half of it), its directory made if need be; `private`: readable
    by this user alone (0600, whatever the umask); `durable`: on the disk before the rename
    (fsync: a power cut keeps one whole file; tens of ms on an SD card); OSError as is."""
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.unlink(missing_ok=True)  # a leftover keeps its mode: made anew
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk: no empty or half file left beside the old one
        tmp.unlink(missing_ok=True)
        raise


def save_fix(path: Path, exc: OSError) -> str:
    """The fix for a state file that could not be written, by its cause."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"free space on the file system of {path.parent} (old recordings?)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"make {path.parent} writable by this user (under systemd: StateDirectory=)"
    if exc.errno == errno.EFBIG:
        return "raise the file size limit (ulimit -f; under systemd, LimitFSIZE=)"
    return f"check {path.parent}"

