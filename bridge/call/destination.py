"""Where a call's recording goes: `record.path` expanded for a call, and checked before
the call is created, so no call is placed only to fail to record. Directories made for it
are 0700 and its files 0600 whatever the umask: a file's name may hold a live call's full
id. A call's files are new: a stem another call's files already hold (a path without
`{call_id}`, two calls started in one second) gets `-2`, `-3`… (`new_stem`), so no recording
is overwritten or appended to."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.errors import ProfileError


def expand_path(template: str, *, call_id: str, profile: str, started: datetime) -> Path:
    stem = template.format(call_id=call_id, profile=profile,
                           started=started.strftime("%Y%m%dT%H%M%SZ"))
    path = Path(stem).expanduser()
    if not path.is_absolute() and os.environ.get("STATE_DIRECTORY"):
        path = Path(os.environ["STATE_DIRECTORY"].split(":")[0]) / path
    return path


def make_private_dirs(directory: Path) -> None:
    """`directory` and its missing parents made, each 0700 whatever the umask (outside
    systemd's UMask=0077 a shell's 022 would let other users list the recordings' names);
    directories that already exist are left as they are."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for made in reversed(missing):
        try:
            made.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile by someone else: theirs to set
            continue
        made.chmod(0o700)  # a umask such as 0277 takes bits off the owner too


MAX_SUFFIX = 1000  # STEM-2 … STEM-1000: past that, the path surely names no call apart
SUFFIXES = (".wav", ".jsonl")


def open_private(path: Path, flags: int) -> int:
    """A descriptor of `path`, created 0600 whatever the umask: a recording is for its
    owner only (and its name may hold the call's full id)."""
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, 0o600)
    with contextlib.suppress(OSError):  # a file of another user's stays as it is, and a
        if stat.S_ISREG(os.fstat(fd).st_mode):  # device (/dev/stdout) is not the file's
            os.fchmod(fd, 0o600)
    return fd


def new_stem(stem: Path) -> Path:
    """A stem whose files (`SUFFIXES`) are no regular files yet, made now, empty and 0600:
    `stem` itself, else `stem-2`, `stem-3`… (A FIFO or a device already there, such as a
    pipe to another program, is the owner's plumbing: used as it is.) An `OSError` if they
    cannot be made."""
    make_private_dirs(stem.parent)
    for n in range(1, MAX_SUFFIX + 1):
        candidate = stem if n == 1 else stem.with_name(f"{stem.name}-{n}")
        paths = [candidate.with_name(candidate.name + suffix) for suffix in SUFFIXES]
        if any(path.is_file() for path in paths):
            continue
        made: list[Path] = []
        try:
            for path in paths:
                if not path.exists():
                    os.close(open_private(path, os.O_WRONLY | os.O_EXCL))
                    made.append(path)
            return candidate
        except FileExistsError:  # made meanwhile by another process: the next name
            for path in made:
                path.unlink(missing_ok=True)
    raise OSError(errno.EEXIST, f"{stem}-2 to -{MAX_SUFFIX} are taken too",
                  str(stem.with_name(stem.name + SUFFIXES[0])))


class DestinationError(ProfileError):
    """The recording's directory cannot be made or written."""


def unwritable(directory: Path) -> str | None:
    """Why files cannot be made in `directory` (once it is created), or None. Only the
    nearest existing ancestor is tried, with a temporary file: nothing is left behind."""
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a directory"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        return f"cannot write in {existing}: {exc.strerror or exc}"
    return None


def check_destination(template: str, profile: str) -> Path:
    """The directory a recording will go to, made now if it names neither the call nor its
    start (else only its nearest existing parent is tried: no empty directory is left
    behind). A `DestinationError` (a profile error) names the path if it cannot be made or
    written, so no call is created only to fail."""
    now = datetime.now(UTC)
    probes = [expand_path(template, call_id=probe, profile=profile, started=when).parent
              for probe, when in (("probe-a", now), ("probe-b", now + timedelta(days=1)))]
    directory = probes[0]
    if probes[0] == probes[1]:
        with contextlib.suppress(OSError):  # why it failed is found just below
            make_private_dirs(directory)
    problem = unwritable(directory)
    if problem is not None:
        raise DestinationError(f"record.path: cannot write recordings in {directory} "
                               f"({problem}) — {record_fix(directory)}")
    return directory


def record_fix(directory: Path) -> str:
    """A read-only mount under the unit is its sandbox (ProtectSystem=strict), not the
    directory: its owner and mode look fine from the operator's shell."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if read_only and state:
        return (f"the unit's ProtectSystem=strict leaves only its StateDirectory ({state}) "
                f"writable: use a relative record.path (it goes there), or allow the "
                f"directory with `systemctl edit` ([Service] ReadWritePaths={existing})")
    return "fix record.path or the directory"

