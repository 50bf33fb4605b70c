"""WAV files and the null device as audio backends, and a WAV writer.

A `WavSource` gives the uplink its file as fast as real time asks (each `read(due)` returns
the `due` samples the uplink's clock owes), then silence, or the file again with `loop`;
`NullSource` is silence. A `ClockedSink` is clocked like a device: a task paced on absolute
deadlines pulls one block every `block_ms` from the playout buffer, so barge-in, underruns
and timing behave as on a speaker, and with a path its WAV holds what a listener would have
heard, silence included (nowhere without one: the `null` output). `WavWriter` keeps a
WAV's header valid after every write; `read_wav_mono` loads an input file.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bridge.audio.base import Backend, level_dbfs
from bridge.audio.buffered import BufferedSink
from bridge.audio.claim import Busy, claim, release
from bridge.audio.pacing import Pacer
from bridge.audio.playout import PlayoutBuffer, PlayoutSettings
from bridge.audio.resample import resample_all
from bridge.audio.wavinfo import why_not_pcm16
from bridge.errors import AudioFileError

MAX_LATE_S = 0.2  # a clocked sink's block this late: the loop stalled, restart its schedule


def read_wav_mono(path: Path, rate: int | None = None) -> tuple[np.ndarray, int]:
    """A 16-bit PCM WAV as mono samples (at `rate`, when given). AudioFileError, one line
    with the cause and the fix, for a file that is missing or not a 16-bit PCM WAV."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2:
                raise AudioFileError(why_not_pcm16(path))
            channels, file_rate = w.getnchannels(), w.getframerate()
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
    except FileNotFoundError:
        raise AudioFileError(f"no such file: {path} — check the path (a relative one is "
                             f"from the profile's directory)") from None
    except IsADirectoryError:
        raise AudioFileError(f"{path} is a directory — give a WAV file's path") from None
    except PermissionError:
        raise AudioFileError(f"cannot read {path} (permission denied) — make it readable "
                             f"by this user") from None
    except (wave.Error, EOFError):
        raise AudioFileError(why_not_pcm16(path)) from None
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1).astype(np.int16)
    if rate and rate != file_rate:
        data = resample_all(data, file_rate, rate)
        file_rate = rate
    return data, file_rate


class WavWriter:
    """A WAV file whose header is valid after every write (the data and the patched header
    reach the OS with each: the header patch seeks, which flushes), so a crash of the
    process loses nothing written. A write (data, then the header patch) holds a lock, and
    `freeze()` takes it for good: a process about to exit at once (a second SIGTERM) never
    leaves a write half done when another thread is writing.

    A write that fails (a full disk, an I/O error) cuts the file back to the last whole
    write and makes the header agree with it, so what was recorded stays a valid WAV; then
    the error goes to `on_error` (once; later writes are ignored), or is raised without one.
    """

    def __init__(self, path: Path, sample_rate: int, channels: int = 1,
                 on_error: Callable[[OSError, Path], None] | None = None) -> None:
        self.path = path  # (its directory is not made: a profile's or --out's must exist)
        self._on_error = on_error
        self._frame_bytes = 2 * channels
        self._frames = 0  # written whole, header included
        self._file = path.open("wb")
        self._w = wave.open(self._file, "wb")  # noqa: SIM115 - closed in close()
        try:
            self._w.setnchannels(channels)
            self._w.setsampwidth(2)
            self._w.setframerate(sample_rate)
            self._w.writeframes(b"")
            self._file.flush()  # the header on disk now: a full disk shows before the call
            self._data_start = self._file.tell() if self._file.seekable() else 44
        except BaseException:
            self._let_go()
            raise
        self._closed = False
        self._lock = threading.Lock()

    def write(self, samples: np.ndarray) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self._w.writeframes(samples.astype("<i2", copy=False).tobytes())
            except OSError as exc:
                self._fail(exc)
            else:
                self._frames += len(samples)

    def freeze(self, timeout: float) -> bool:
        """No write after this one; waits (at most `timeout` s) for a write under way to
        finish with its header. False if it did not in time."""
        return self._lock.acquire(timeout=timeout)

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._w.close()
            self._file.close()
        except OSError as exc:
            self._fail(exc)
        self._closed = True

    def _fail(self, exc: OSError) -> None:
        self._closed = True
        self._let_go()
        self._salvage()
        if self._on_error is None:
            raise exc
        self._on_error(exc, self.path)

    def _let_go(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._w.close()  # it may try to write again; it lets go of the file either way
        with contextlib.suppress(OSError, ValueError):
            self._file.close()

    def _salvage(self) -> None:
        """Cut to the whole frames written and patch the two sizes in the header: both
        rewrite bytes already on disk, so they work on a full disk too."""
        data = self._frames * self._frame_bytes
        with contextlib.suppress(OSError), self.path.open("r+b", buffering=0) as f:
            f.truncate(self._data_start + data)
            f.seek(4)
            f.write(struct.pack("<I", self._data_start - 8 + data))
            f.seek(self._data_start - 4)
            f.write(struct.pack("<I", data))


class WavSource(Backend):
    """Plays a WAV file into the call in real time, then silence (or again, with `loop`).

    With `paused=True` it sends silence until `play()` (the demo waits for the greeting).
    """

    def __init__(self, path: Path, sample_rate: int, loop: bool = False,
                 paused: bool = False) -> None:
        self.sample_rate = sample_rate
        try:
            self._data, _ = read_wav_mono(path, sample_rate)
        except AudioFileError as exc:  # the one WAV a profile names is its audio.input
            raise AudioFileError(f"audio.input: {exc}") from None
        self._pos = 0
        self._loop = loop
        self._paused = paused
        self._level = -120.0

    @property
    def duration_s(self) -> float:
        return len(self._data) / self.sample_rate

    def start(self) -> None:
        self._pos = 0

    def play(self) -> None:
        self._paused = False

    def read(self, due: int) -> np.ndarray:
        out = np.zeros(due, dtype=np.int16)
        if self._paused:
            return out
        if self._loop and len(self._data):
            idx = (np.arange(self._pos, self._pos + due) % len(self._data))
            out[:] = self._data[idx]
        else:
            chunk = self._data[self._pos:self._pos + due]
            out[: len(chunk)] = chunk
        self._pos += due
        self._level = level_dbfs(out)
        return out

    @property
    def finished(self) -> bool:
        return not self._paused and not self._loop and self._pos >= len(self._data)

    @property
    def level_db(self) -> float:
        return self._level

    def close(self) -> None:
        return None


class NullSource(Backend):
    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate

    def start(self) -> None:
        return None

    def read(self, due: int) -> np.ndarray:
        return np.zeros(due, dtype=np.int16)

    @property
    def level_db(self) -> float:
        return -120.0

    def close(self) -> None:
        return None


class ClockedSink(BufferedSink):
    """A sink pulled by an asyncio task in real time; writes what it plays to a WAV (on the
    event loop: a demo's or a test's output, not the kiosk's speaker) or nowhere."""

    def __init__(self, sample_rate: int, path: Path | None = None, block_ms: int = 20,
                 playout: PlayoutSettings | None = None) -> None:
        self.sample_rate = sample_rate
        self.path = path
        self._block = sample_rate * block_ms // 1000
        self._block_s = block_ms / 1000.0
        self.buffer = PlayoutBuffer(sample_rate, playout)
        self._writer: WavWriter | None = None
        self._claim: int | None = None  # the file's lock (bridge.audio.claim)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.path is not None:
            try:
                self._claim = claim(self.path)
                self._writer = WavWriter(self.path, self.sample_rate)
            except Busy:
                raise AudioFileError(f"output file {self.path} is being written by another "
                                     f"process (a daemon whose profile names the same file?)"
                                     f" — give each its own file: two writers leave neither "
                                     f"a valid WAV") from None
            except OSError as exc:
                self._let_go()
                raise AudioFileError(f"cannot write output file {self.path}: "
                                       f"{exc.strerror} — give audio.output a file:PATH in "
                                       f"a directory you may write") from None
        self._task = asyncio.get_running_loop().create_task(self._pull(), name="sink-clock")

    async def _pull(self) -> None:
        loop = asyncio.get_running_loop()
        block = np.zeros(self._block, dtype=np.int16)
        pacer = Pacer(self._block_s, MAX_LATE_S)
        while True:
            tick = await pacer.tick()  # after a stall over MAX_LATE_S: resync, no burst
            # heard at its deadline: a block the loop ran late is still heard right after the
            # one before (the file has no gap), so the recording must not see one either
            now = loop.time()
            self.buffer.read_into(block, now if tick.restarted else now - tick.lateness)
            if self._writer is not None:
                self._writer.write(block)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        try:
            if self._writer is not None:
                # play out what is still queued, so the file ends where the audio did
                rest = np.zeros(int(self.buffer.depth_ms * self.sample_rate / 1000), np.int16)
                with contextlib.suppress(Exception):
                    self.buffer.target_samples = 0
                    self.buffer.read_into(rest)
                    self._writer.write(rest)
                self._writer.close()
        finally:  # the lock goes with the file, whatever its close says
            self._let_go()

    def _let_go(self) -> None:
        release(self._claim)
        self._claim = None
