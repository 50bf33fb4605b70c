"""The `sounds:` keys: each `default` (the sound bundled in `bridge/assets/sounds/`), a WAV
file, or null (none). Resolved and checked when the profile is loaded, so a missing or
unreadable file is one line at start-up (exit 2), never a silent kiosk."""

from __future__ import annotations

import wave
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bridge.audio.wavinfo import why_not_pcm16
from bridge.errors import ProfileError
from bridge.profile.fields import Field, Invalid

SOUND_KEYS = ("triggered", "connecting", "hang", "offline")
MAX_SECONDS = 60.0  # a longer file is surely not a kiosk sound
FIX = "give a 16-bit PCM WAV file, `default` (the bundled sound) or null (no sound)"


def bundled(name: str) -> Path:
    return Path(str(resources.files("bridge") / "assets" / "sounds" / f"{name}.wav"))


@dataclass(frozen=True)
class Sound(Field):
    """`default`, a path to a WAV file, or null/false (none)."""

    def parse_null(self) -> None:
        return None

    def check(self, value: Any) -> str | None:
        if value is False:  # YAML reads a bare `off`/`no` as false
            return None
        if not isinstance(value, str) or not value.strip():
            raise Invalid(f"expected default, a WAV file's path or null; {FIX}")
        return value.strip()


def wav_problem(path: Path) -> str | None:
    """Why `path` is not a WAV file the mixer can play, or None."""
    try:
        with wave.open(str(path), "rb") as w:
            width, channels = w.getsampwidth(), w.getnchannels()
            frames, rate = w.getnframes(), w.getframerate()
    except FileNotFoundError:
        return f"no such file: {path}"
    except IsADirectoryError:
        return f"{path} is a directory"
    except PermissionError:
        return f"cannot read {path} (permission denied)"
    except (wave.Error, EOFError):
        return why_not_pcm16(path)  # the cause, and the sox command that converts it
    except OSError as exc:
        return f"cannot read {path} ({exc.strerror or exc})"
    if width != 2:
        return why_not_pcm16(path)
    if not 1 <= channels <= 2 or rate < 8000:
        return f"{path}: {channels} channels at {rate} Hz; mono or stereo at 8000 Hz or more"
    if frames == 0 or frames / rate > MAX_SECONDS:
        return f"{path} lasts {frames / rate:.1f} s; from a moment to {MAX_SECONDS:.0f} s"
    return None


def sound_file(name: str, value: str) -> Path:
    """The file a (resolved) `sounds.NAME` value plays: `default` is the bundled one."""
    return bundled(name) if value == "default" else Path(value)


def resolve_sounds(values: dict[str, Any], directory: Path,
                   err: Callable[[str, str], ProfileError]) -> None:
    """A relative path becomes relative to the profile's directory (`default` stays as
    it is); each file is checked (`err(key, message)` makes the error raised)."""
    for name in SOUND_KEYS:
        value = values[name]
        if value is None:
            continue
        path = sound_file(name, value).expanduser()
        if not path.is_absolute():
            path = directory / path
        problem = wav_problem(path)
        if problem:
            raise err(name, f"{problem} — {FIX}")
        values[name] = value if value == "default" else str(path)
