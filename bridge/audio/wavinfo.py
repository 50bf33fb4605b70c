"""What a WAV file's header says it holds, read with the standard library alone (no numpy:
the profile's checks of its sound files use it, and `ctl` loads the profile)."""

from __future__ import annotations

import contextlib
import shlex
import struct
from pathlib import Path


def why_not_pcm16(path: Path) -> str:
    """Why `path` is no 16-bit PCM WAV (from its RIFF header), and the command that makes it
    one."""
    tag, bits, extensible = _wav_format(path)
    kind = {1: f"has {bits}-bit samples", 3: f"has {bits}-bit float samples", 6: "is A-law",
            7: "is µ-law"}.get(tag or 0, f"is compressed (WAV format {tag or 0:#06x})")
    ext = " in a WAVE_FORMAT_EXTENSIBLE header" if extensible else ""
    cause = (f"{path} is not a WAV file" if tag is None else f"{path} is a damaged WAV file"
             if (tag, bits, extensible) == (1, 16, False) else f"{path} {kind}{ext}")
    out = path.with_name(f"{path.stem}-16bit.wav")
    return (f"{cause}; only plain 16-bit PCM WAV is read — convert it: sox "
            f"{shlex.quote(str(path))} -b 16 -e signed-integer -c 1 {shlex.quote(str(out))}")


def _wav_format(path: Path) -> tuple[int | None, int, bool]:
    """(format tag, bits per sample, WAVE_FORMAT_EXTENSIBLE) from the fmt chunk (the
    extensible one's sub-format tag); tag None when there is none."""
    with contextlib.suppress(OSError, struct.error), path.open("rb") as f:
        head = f.read(12)
        while head[:4] == b"RIFF" and head[8:12] == b"WAVE" and len(chunk := f.read(8)) == 8:
            size = struct.unpack("<I", chunk[4:])[0]
            if chunk[:4] != b"fmt ":
                f.seek(size + (size & 1), 1)
                continue
            body = f.read(min(size, 40))
            tag, bits = struct.unpack("<H", body[:2])[0], struct.unpack("<H", body[14:16])[0]
            if tag == 0xFFFE and len(body) >= 26:
                return struct.unpack("<H", body[24:26])[0], bits, True
            return tag, bits, False
    return None, 0, False
