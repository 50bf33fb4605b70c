"""Call recording: a stereo WAV at the wire rate and a transcript JSONL.

Left is what we sent, right is what the assistant sent. The uplink is paced in real time,
so its sample count is the recording's clock: a downlink chunk is placed at the uplink
position it arrived at (silence fills the gap before it), which keeps the two channels
aligned to within one downlink chunk. The WAV header is rewritten after every block, so
the file is valid even if the process dies; `close()` is called on every ending path.

A recording never ends a call. Its destination is checked before the call is created
(`check_destination`: a profile error, exit 2); if writing fails during the call (a full
disk), the recording stops with one warning naming the path and the cause, what was
written stays valid, and `failure` says why for the call's summary.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import numpy as np

from bridge.audio.files import WavWriter
from bridge.errors import ProfileError

log = logging.getLogger("bridge.record")

MAX_SKEW_S = 1.0  # downlink silent longer than this: pad its channel so memory stays bounded


def expand_path(template: str, *, call_id: str, profile: str, started: datetime) -> Path:
    stem = template.format(call_id=call_id, profile=profile,
                           started=started.strftime("%Y%m%dT%H%M%SZ"))
    path = Path(stem).expanduser()
    if not path.is_absolute() and os.environ.get("STATE_DIRECTORY"):
        path = Path(os.environ["STATE_DIRECTORY"].split(":")[0]) / path
    return path


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
            directory.mkdir(parents=True, exist_ok=True)
    problem = unwritable(directory)
    if problem is not None:
        raise DestinationError(f"record.path: cannot write recordings in {directory} "
                               f"({problem}) — fix record.path or the directory")
    return directory


class Recorder:
    def __init__(self, template: str, profile: str, rate: int) -> None:
        self.template = template
        self.profile = profile
        self.rate = rate
        self.wav_path: Path | None = None
        self.transcript_path: Path | None = None
        self._wav: WavWriter | None = None
        self._jsonl: IO[str] | None = None
        self._left: list[np.ndarray] = []
        self._right: list[np.ndarray] = []
        self._left_n = self._right_n = self._written = 0
        self._t0 = 0.0
        self.failure: str | None = None  # why the recording stopped early

    def check(self) -> None:
        """Before the call is created: `DestinationError` if it could not be recorded."""
        check_destination(self.template, self.profile)

    def open(self, call_id: str) -> None:
        started = datetime.now(UTC)
        stem = expand_path(self.template, call_id=call_id, profile=self.profile,
                           started=started)
        self.wav_path = stem.with_name(stem.name + ".wav")
        self.transcript_path = stem.with_name(stem.name + ".jsonl")
        self._t0 = time.monotonic()
        try:
            self._wav = WavWriter(self.wav_path, self.rate, channels=2, on_error=self._failed)
            self._jsonl = self.transcript_path.open("a", encoding="utf-8")
        except OSError as exc:
            self._failed(exc, Path(exc.filename) if exc.filename else self.wav_path)
            return
        log.info("recording to %s", self.wav_path)

    # taps: called from the event loop
    def on_uplink(self, frame: np.ndarray) -> None:
        if self._wav is None:
            return
        self._left.append(frame.copy())
        self._left_n += len(frame)
        if self._left_n - self._right_n > MAX_SKEW_S * self.rate:
            self._pad_right(self._left_n - int(0.2 * self.rate))
        self._flush()

    def on_downlink(self, samples: np.ndarray) -> None:
        if self._wav is None:
            return
        self._pad_right(self._left_n)
        self._right.append(samples.copy())
        self._right_n += len(samples)
        self._flush()

    def on_transcript(self, role: str, text: str) -> None:
        if self._jsonl is None:
            return
        line = {"t": round(time.monotonic() - self._t0, 3),
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "role": role, "text": text}
        try:
            self._jsonl.write(json.dumps(line) + "\n")
            self._jsonl.flush()
        except OSError as exc:
            assert self.transcript_path is not None
            self._failed(exc, self.transcript_path)

    def _failed(self, exc: OSError, path: Path) -> None:
        """A write failed: stop recording (both files), say so once, keep what was written."""
        if self.failure is None:
            self.failure = f"{path}: {exc.strerror or exc.__class__.__name__}"
            log.warning("recording stopped: cannot write %s (%s); the call goes on, what was "
                        "recorded so far is kept", path, exc.strerror or exc)
        wav, jsonl, self._wav, self._jsonl = self._wav, self._jsonl, None, None
        if wav is not None:
            wav.close()
        if jsonl is not None:
            with contextlib.suppress(OSError):
                jsonl.close()

    def _pad_right(self, upto: int) -> None:
        if self._right_n < upto:
            gap = upto - self._right_n
            self._right.append(np.zeros(gap, dtype=np.int16))
            self._right_n += gap

    def _flush(self, final: bool = False) -> None:
        end = max(self._left_n, self._right_n) if final else min(self._left_n, self._right_n)
        n = end - self._written
        if n <= 0 or self._wav is None:
            return
        left = _take(self._left, n)
        right = _take(self._right, n)
        stereo = np.empty((n, 2), dtype=np.int16)
        stereo[:, 0] = left
        stereo[:, 1] = right
        self._wav.write(stereo)
        self._written = end

    def close(self) -> None:
        if self._wav is None:
            return
        try:
            self._flush(final=True)
        finally:
            if self._wav is not None:  # None when the last write failed
                self._wav.close()
                self._wav = None
            if self._jsonl is not None:
                try:
                    self._jsonl.close()
                except OSError as exc:
                    assert self.transcript_path is not None
                    self._failed(exc, self.transcript_path)
                self._jsonl = None
        if self.failure is None:
            log.info("recording finished: %s (%.1f s)", self.wav_path,
                     self._written / self.rate)


    def note_end(self, call_id: str, ended_reason: str) -> None:
        """Once the call is over, its full id (now safe to show) as the JSONL's last line."""
        if self.transcript_path is None or self.failure is not None:
            return
        line = {"t": round(time.monotonic() - self._t0, 3),
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "ended": {"callId": call_id, "endedReason": ended_reason}}
        try:
            with self.transcript_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
        except OSError as exc:
            self._failed(exc, self.transcript_path)


def _take(chunks: list[np.ndarray], n: int) -> np.ndarray:
    """Remove and return the first n samples of a chunk list (zeros where it runs out)."""
    out = np.zeros(n, dtype=np.int16)
    filled = 0
    while chunks and filled < n:
        head = chunks[0]
        k = min(len(head), n - filled)
        out[filled:filled + k] = head[:k]
        filled += k
        if k == len(head):
            chunks.pop(0)
        else:
            chunks[0] = head[k:]
    return out
