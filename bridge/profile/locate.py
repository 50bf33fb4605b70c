"""Where a profile named on the command line is: a path as given, else NAME.yaml in the
search directories, in order (`search_dirs`)."""

from __future__ import annotations

import os
from pathlib import Path

from bridge.errors import ProfileError
from bridge.profile.yamlnodes import not_a_profile

SYSTEM_DIR = Path("/etc/vapi-bridge")


def search_dirs() -> list[Path]:
    """Where a bare profile NAME is looked for, in order."""
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [Path("."), Path("config"), config_home / "vapi-bridge", SYSTEM_DIR]


def _is_file(path: Path) -> bool | None:
    """`path.is_file()`, or None when a directory on the way cannot be searched."""
    try:
        return path.is_file()
    except PermissionError:
        return None


def find_profile(name_or_path: str) -> Path:
    """A path as given, else NAME.yaml in `search_dirs()` (those that cannot be searched
    skipped, and named if it is found in none)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        found = _is_file(path)
        if found is None:
            raise ProfileError(f"cannot read profile {path}: permission denied on a "
                               f"directory of its path — check the path's permissions, or "
                               f"run as a user who may read it")
        if found:
            return path
        raise not_a_profile(path)
    dirs, closed = search_dirs(), []
    for directory in dirs:
        for suffix in (".yaml", ".yml"):
            candidate = directory / f"{name_or_path}{suffix}"
            found = _is_file(candidate)
            if found:
                return candidate
            if found is None and directory not in closed:
                closed.append(directory)
    if _is_file(path) is False and path.is_dir():  # `-p kiosk` for the directory ./kiosk
        raise not_a_profile(path)
    looked = ", ".join(str(d / f"{name_or_path}.yaml") for d in dirs)
    denied = f"; could not search {', '.join(map(str, closed))}: permission denied" \
        if closed else ""
    raise ProfileError(f"profile {name_or_path!r} not found (looked in {looked}{denied}) — "
                       f"give a path, or create it: vapi-bridge init {name_or_path}")
