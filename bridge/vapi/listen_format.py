"""What a listen stream may announce about its audio, taken only within bounds.

Vapi's listen stream is 16-bit PCM, interleaved, one or two channels, at a call's rate (its
start frame: `{"type": "start", "encoding": "linear16", "container": "raw", "sampleRate":
16000, "channels": 2}`). The numbers in a text frame size the buffers that follow — how
many bytes make a frame, the WAV header's rate — so a start frame announcing anything
else (`"channels": 1000000000`, `-1`, `"2"`, `2.5`, `true`, a rate of 10**12 or 0) is
refused with one line rather than followed; `null` counts as not announced. Other text
frames are not the stream's description: what they announce is followed only within the
same bounds and otherwise ignored. `--channels`/`--rate` (`channels=`/`rate=`) override
what is announced, so an announcement they override is not checked.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from bridge.errors import Refused, UsageError
from bridge.inert import inert, printable

CHANNELS = (1, 2)
RATES = range(8000, 48001)  # any whole rate a call's wire may have (wire.sample_rate)
CHANNELS_READ, RATES_READ = "1 or 2 channels", "8000 to 48000 Hz"  # the bounds, in words
PCM_ENCODINGS = ("linear16", "pcm_s16le", "s16le")
START_TYPES = ("start", "listen-start")
LABEL_CHARS = 64  # a channel label ("customer", "assistant") is kept to this many characters
SHOWN_CHARS = 40  # of an announced value, in the line that refuses it
PLAYABLE = f"{CHANNELS_READ} of 16-bit PCM at {RATES_READ}"


@dataclass(frozen=True)
class Announced:
    """What a text frame announced within bounds (None: not announced, or not usable)."""

    channels: int | None = None
    rate: int | None = None
    labels: tuple[str, ...] | None = None


def _whole(value: Any) -> int | None:
    """A JSON number that is a whole number (2, 2.0); not a bool, a string, NaN or ±inf."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _shown(value: Any) -> str:
    """An announced value as the server wrote it, one inert line, cut short (JSON or a
    repr: escaped already, so its backslashes are kept as they are)."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):  # not from JSON (the Python API): its repr
        text = repr(value)
    return printable(text, SHOWN_CHARS)


def check_override(channels: int | None, rate: int | None) -> None:
    """`--channels`/`--rate` (`channels=`/`rate=`) outside what listen can read: refuse."""
    if channels is not None and _whole(channels) not in CHANNELS:
        raise UsageError(f"--channels {_shown(channels)}: listen reads {CHANNELS_READ}")
    if rate is not None and _whole(rate) not in RATES:
        raise UsageError(f"--rate {_shown(rate)}: listen reads {RATES_READ}")


def _check_encoding(data: dict[str, Any]) -> None:
    encoding = data.get("encoding", data.get("format"))
    if encoding is not None and str(encoding).lower() not in PCM_ENCODINGS:
        raise Refused(f"the listen stream announced encoding {str(encoding)[:40]!a}; only "
                      f"linear16 (16-bit PCM) can be read")


def announced(data: dict[str, Any], *, channels: int | None = None,
              rate: int | None = None) -> Announced:
    """What the text frame `data` announces about the audio. A start frame announcing an
    encoding, a channel count or a rate outside the bounds raises `Refused`; `channels`
    and `rate` are the overrides (given, what they override is neither read nor checked)."""
    start = data.get("type") in START_TYPES
    if start:
        _check_encoding(data)
    raw_channels = data.get("channels") if channels is None else None
    raw_rate = data.get("sampleRate") if rate is None else None
    count = len(raw_channels) if isinstance(raw_channels, list) else _whole(raw_channels)
    count = count if count in CHANNELS else None
    sample_rate = _whole(raw_rate)
    sample_rate = sample_rate if sample_rate in RATES else None
    bad = [f"{name} {_shown(raw)}" for name, raw, kept in
           (("channels", raw_channels, count), ("sampleRate", raw_rate, sample_rate))
           if raw is not None and kept is None]
    if bad and start:
        raise Refused(f"the listen stream announced {' and '.join(bad)}: not a stream listen "
                      f"can play ({PLAYABLE}); check that the URL is a call's listenUrl, or "
                      f"set --channels/--rate to override what it announces")
    listed = data.get("channels")  # labels, read even where --channels overrides the count
    labels = None
    if isinstance(listed, list) and len(listed) in CHANNELS:
        labels = tuple(inert(str(label), LABEL_CHARS) for label in listed)
    return Announced(count, sample_rate, labels)


class Frames:
    """Bytes from binary messages cut into whole frames of `frame` bytes: what is carried
    to the next message is the part of one frame, never more."""

    def __init__(self, frame: int) -> None:
        self.frame = frame
        self.carry = b""

    def take(self, message: bytes) -> bytes:
        """The whole frames `message` completes (with the bytes carried over)."""
        data = self.carry + message
        usable = len(data) - len(data) % self.frame
        self.carry = data[usable:]
        return data[:usable]
