"""The profile's secrets: the private API key (and the public one) read from the
environment, a key file, or a systemd credential, in that order.

A key file other users may read (group or others) is said once, where the key is read for:
as a warning in the log (`run`, a reload), as the `API key present` item in `check` (not
both: `check` printed the log's line above its own item)."""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import ProfileError
from bridge.profile.model import Profile

log = logging.getLogger("bridge.profile")

CREDENTIAL_NAME = "vapi-api-key"
PUBLIC_CREDENTIAL_NAME = "vapi-public-key"
KEY_FILE_FIX = ("fix the path (a relative one is relative to the profile's directory) or "
                "the file's permissions")


@dataclass(frozen=True)
class Secret:
    value: str
    exposed: Path | None = None  # the key file it was read from, when others may read it
    setting: str = ""  # the profile key naming that file (api.key_file)

    def warned(self) -> str:
        """The value, after the log's warning when its file is exposed."""
        if self.exposed is not None:
            log.warning("the key file %s is readable by other users; run: chmod 600 %s",
                        self.exposed, self.exposed)
        return self.value


def _exposed(path: Path, mode: int) -> bool:
    """Other users may read it: not a systemd credential (systemd hands the service a
    copy of its own)."""
    return bool(mode & (stat.S_IRGRP | stat.S_IROTH)) and not str(path).startswith(
        os.environ.get("CREDENTIALS_DIRECTORY", "\0"))


def _read_secret_file(path: Path, what: str, setting: str, fix: str = KEY_FILE_FIX) -> Secret:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ProfileError(f"{setting}: cannot read the {what} file {path}: {exc.strerror} — "
                           f"{fix}") from None
    if not text:
        raise ProfileError(f"{setting}: the {what} file {path} is empty — put the key in it")
    return Secret(text, path if _exposed(path, mode) else None, setting)


def key_path(file_name: str, directory: Path) -> Path:
    """A key file's path: `~` expanded, a relative one relative to the profile's directory."""
    path = Path(file_name).expanduser()
    return path if path.is_absolute() else directory / path


def read_secret(env_name: str, file_name: str | None, credential: str, directory: Path,
                setting: str = "api.key_file") -> Secret | None:
    """Env var, then key file, then `$CREDENTIALS_DIRECTORY/<credential>` (systemd)."""
    value = os.environ.get(env_name, "").strip()
    if value:
        return Secret(value)
    if file_name:
        return _read_secret_file(key_path(file_name, directory), "key", setting)
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / credential).is_file():
        return _read_secret_file(Path(creds) / credential, "credential",
                                 f"systemd credential {credential}",
                                 "check the unit's LoadCredential= line")
    return None


def api_secret(profile: Profile) -> Secret:
    """The private key and where it came from (`check`); ProfileError when there is none."""
    found = read_secret(profile.api.key_env, profile.api.key_file, CREDENTIAL_NAME,
                        profile.directory)
    if not found:
        name = profile.api.key_env
        if name in os.environ:  # set, but to nothing (or blanks): not the same as unset
            raise ProfileError(f"the environment variable {name} is set but empty — put the "
                               f"Vapi API key in it, or unset it and use api.key_file in "
                               f"{profile.origin} or a systemd credential named "
                               f"{CREDENTIAL_NAME}")
        raise ProfileError(f"no Vapi API key: set the environment variable {name}, or "
                           f"api.key_file in {profile.origin}, or a systemd credential named "
                           f"{CREDENTIAL_NAME}")
    return found


def api_key(profile: Profile) -> str:
    return api_secret(profile).warned()


def public_secret(profile: Profile) -> Secret | None:
    return read_secret(profile.api.public_key_env, profile.api.public_key_file,
                       PUBLIC_CREDENTIAL_NAME, profile.directory, "api.public_key_file")


def public_key(profile: Profile) -> str | None:
    found = public_secret(profile)
    return found.warned() if found else None
