"""`vapi-bridge init` and `vapi-bridge unit`: a profile and a systemd unit from the package.

Both work from a wheel with no checkout: `init` writes the fully commented profile (every
key with its default and help, rendered from the key declarations), `unit` prints the
systemd template unit from the package's data with `ExecStart=` pointing at this
installation's `vapi-bridge`.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from importlib import resources
from pathlib import Path

from bridge.errors import UsageError
from bridge.extras import installed_exe
from bridge.profile import example

SHIPPED_EXE = "/opt/vapi-bridge/venv/bin/vapi-bridge"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


def asset_text(*parts: str) -> str:
    return (resources.files("bridge").joinpath("assets", *parts)).read_text(encoding="utf-8")


def profile_text(name: str) -> str:
    """The commented example profile (config/frontdesk.yaml), its call named after the
    profile (the first 30 characters: all `call.name` takes)."""
    return example.render({"call.name": name[:30]}, profile=name)


def target_path(name_or_path: str) -> tuple[str, Path]:
    """`NAME` → ./NAME.yaml; a path (with a `/` or ending .yaml) is used as it is, `.yaml`
    added when it has no .yaml/.yml suffix (`../dev` → ../dev.yaml, as `--profile` and the
    search for NAME.yaml expect). A directory is refused: the profile is a file."""
    pathlike = os.sep in name_or_path or name_or_path in (".", "..")
    if pathlike and (name_or_path.endswith(os.sep) or Path(name_or_path).expanduser().is_dir()):
        raise UsageError(f"{name_or_path} is a directory — give the profile's file in it: "
                         f"vapi-bridge init {name_or_path.rstrip(os.sep)}{os.sep}NAME.yaml")
    if pathlike or name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path).expanduser()
        if path.suffix not in (".yaml", ".yml"):
            path = path.with_name(f"{path.name}.yaml")
        name = path.stem
    else:
        name, path = name_or_path, Path(f"{name_or_path}.yaml")
    if path.is_dir():
        raise UsageError(f"{path} is a directory — give another NAME, or the profile's "
                         f"file in it: vapi-bridge init {path / 'NAME.yaml'}")
    if not NAME_RE.match(name):
        raise UsageError(f"profile name {name!r}: use letters, digits, '-', '_' or '.', "
                         f"at most 40 characters (it names the systemd instance too)")
    return name, path


def make_dir_command(directory: Path) -> str:
    """The command that creates `directory`: `mkdir -p` where this user may create it (its
    nearest existing ancestor is writable), else as root, readable by the service's user."""
    quoted = shlex.quote(str(directory))
    ancestor = next((p for p in directory.absolute().parents if p.exists()), Path("/"))
    if ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK):
        return f"mkdir -p {quoted}"
    return f"sudo install -d -m 0755 {quoted}"


def init(name_or_path: str, force: bool = False) -> str:
    """Write the profile; returns what to say."""
    if name_or_path == "-":
        sys.stdout.write(profile_text("kiosk"))
        return ""
    try:
        name, path = target_path(name_or_path)
        exists, parent = path.exists(), path.parent.is_dir()
    except PermissionError as exc:
        raise UsageError(f"cannot write {exc.filename}: permission denied on a directory of "
                         f"its path — write it where you may, or as root (sudo)") from None
    if exists and not force:
        raise UsageError(f"{path} exists; choose another name, or --force to overwrite it")
    if not parent:
        raise UsageError(f"no directory {path.parent}; create it first: "
                         f"{make_dir_command(path.parent)}")
    try:
        path.write_text(profile_text(name), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror} — write it where you may, "
                         f"or as root (sudo)") from None
    given = str(path) if os.sep in name_or_path else name_or_path  # what --profile finds
    return (f"wrote {path}: set assistant.id, and audio.input/output (see `vapi-bridge "
            f"devices`); then: vapi-bridge check --profile {given}")


def unit_text(user: bool) -> str:
    text = asset_text("systemd", "vapi-bridge@.user.service" if user
                      else "vapi-bridge@.service")
    return text.replace(SHIPPED_EXE, installed_exe())


def print_unit(user: bool) -> None:
    """The unit on stdout; on stderr, a warning if its sandbox would hide this install."""
    text = unit_text(user)
    sys.stdout.write(text)
    hidden = hidden_from_unit(text)
    if hidden:
        print(f"vapi-bridge: warning: {hidden}", file=sys.stderr)


# what the unit's sandbox hides from the service: its program must not live there
HIDDEN_BY = {"PrivateTmp=yes": ("/tmp", "/var/tmp"),
             "ProtectHome=yes": ("/home", "/root", "/run/user")}


def hidden_from_unit(text: str) -> str | None:
    """Why the service could not start this installation, or None: its script, its
    interpreter (a venv's links to one elsewhere) or their library under a directory the
    unit's own sandbox hides (it would fail with status 203/EXEC)."""
    exe = installed_exe().split()[0]
    paths = [Path(exe), Path(os.path.realpath(sys.executable)), Path(sys.base_prefix)]
    options = set(text.splitlines())
    hidden = [(path, option, d) for option, dirs in HIDDEN_BY.items() if option in options
              for path in paths for d in dirs if path.is_relative_to(d)]
    if not hidden:
        return None
    path, option, hider = hidden[0]
    return (f"{path} is under {hider}, which the unit's {option} hides from the service: it "
            f"would not start — make the venv under /opt from the system's python3 "
            f"(docs/kiosk-install.md: sudo python3 -m venv /opt/vapi-bridge/venv)")
