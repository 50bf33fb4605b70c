"""The `file:PATH` devices of a profile (audio.input, audio.output), checked as it loads:
an input that is no file, an output whose directory does not exist (none is made for it,
as `listen --out` makes none: a typo would otherwise become a tree of directories), and a
warning for an output whose name says another format than the WAV it gets."""

from __future__ import annotations

import shlex
from typing import Any

from bridge.profile.fields import file_path
from bridge.words import not_a_file


def file_problem(audio: dict[str, Any]) -> tuple[str, str] | None:
    """(key, what is wrong — the fix) for the first `file:` device that cannot work."""
    try:
        return _problem(audio)
    except OSError as exc:  # a directory on the way this user may not search
        key = "audio.output" if file_path(audio["input"]) is None else "audio.input"
        return key, (f"cannot reach {exc.filename or 'the file'}: {exc.strerror or exc} — "
                     f"give {key} a file:PATH in a directory this user may use")


def _problem(audio: dict[str, Any]) -> tuple[str, str] | None:
    wav = file_path(audio["input"])
    if wav is not None and not wav.is_file():
        kind = not_a_file(wav)
        return "audio.input", (
            f"{wav} is {kind}, not a WAV file — give a 16-bit PCM WAV file's path" if kind
            else f"no such file: {wav} — check the path (a relative one is relative to the "
                 f"profile's directory)")
    out = file_path(audio["output"])
    if out is not None and not out.parent.exists():
        return "audio.output", (
            f"there is no directory {out.parent} (none is made for it) — create it "
            f"(mkdir -p {shlex.quote(str(out.parent))}) or give a file:PATH in a directory "
            f"that exists")
    return None


def output_warning(audio: dict[str, Any]) -> str | None:
    """A `file:` output named other than .wav: it is written as a WAV all the same."""
    out = file_path(audio["output"])
    try:
        if out is None or out.suffix.lower() == ".wav" or (out.exists() and not out.is_file()):
            return None  # (a FIFO or a device, such as /dev/stdout, is the owner's plumbing)
    except OSError:
        return None  # (what cannot be reached is `file_problem`'s to say)
    return (f"audio.output: {out.name} is written as a WAV (16-bit PCM) whatever its name "
            f"says — name it .wav (convert it afterwards if need be, e.g. sox "
            f"{shlex.quote(out.with_suffix('.wav').name)} {shlex.quote(out.name)})")
