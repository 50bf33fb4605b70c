"""Call recording: a stereo WAV at the wire rate and a transcript JSONL (final transcripts
as Vapi sent them, each answered turn's heard gap from `turns`, and the call's end).

The WAV's left leg is what was sent, its right what the speaker played, both placed on one
clock (`recording_legs`), once per uplink tick. A goodbye Vapi sent ahead of real time,
still queued when the call ends, is recorded as it plays out (`tail.play_out`; the call's
end waits for it), the sent leg silent.
The files are written on a thread of their own (`recording_writer`): a slow disk never
holds up the tick. The WAV header is rewritten with every write: the file is valid even if
the process dies (`freeze()` first if it exits at once); `aclose()` waits (at most
`CLOSE_WAIT_S`, off the loop) for the writes.

A recording never ends a call. Its destination is checked before the call is created
(`destination.check_destination`: exit 2), its files are new (`destination.new_stem`); if
they cannot be started, or the call never connected, none is left; if writing fails later
(a full disk, `BACKLOG_S` behind) it stops with one warning, what was written kept valid."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bridge.audio.base import AudioSink
from bridge.call.destination import SUFFIXES, check_destination, expand_path, new_stem
from bridge.call.recording_legs import Legs
from bridge.call.recording_writer import GONE, KEPT, RecordingWriter, append, cause
from bridge.call.tail import play_out
from bridge.inert import inert_json
from bridge.vapi import messages

log = logging.getLogger("bridge.record")

BACKLOG_S = 30.0  # audio queued for a disk that is behind: beyond it the recording stops
CLOSE_WAIT_S = 3.0  # the most aclose() waits for the writer thread (off the loop)


class Recorder:
    def __init__(self, template: str, profile: str, rate: int,
                 clock: Callable[[], float] = time.monotonic,
                 stop: Callable[[], bool] | None = None) -> None:  # true: fade the last words
        self.template, self.profile, self.rate, self._stop = template, profile, rate, stop
        self.wav_path: Path | None = None
        self.transcript_path: Path | None = None
        self._files: RecordingWriter | None = None
        self._closing: RecordingWriter | None = None  # closed, perhaps still writing
        self._clock = clock
        self._legs = Legs(rate, clock)
        self._t0 = 0.0  # the JSONL's clock starts here: at open, then at the WAV's start
        self.failure: str | None = None  # why the recording stopped early
        self.noted_end = False  # the JSONL's last line is written (once)

    def check(self) -> None:
        """Before the call is created: `DestinationError` if it could not be recorded."""
        check_destination(self.template, self.profile)

    def open(self, call_id: str) -> None:
        stem = expand_path(self.template, call_id=call_id, profile=self.profile,
                           started=datetime.now(UTC))
        self._t0 = self._clock()
        try:
            stem = new_stem(stem)  # STEM-2… when another call's files have the name
            self.wav_path, self.transcript_path = (stem.with_name(stem.name + suffix)
                                                   for suffix in SUFFIXES)
            self._files = RecordingWriter(self.wav_path, self.transcript_path, self.rate,
                                          backlog_s=BACKLOG_S)
        except OSError as exc:  # no file is left (`RecordingWriter`): nothing to keep
            self.transcript_path, where = None, exc.filename or f"{stem}.wav"
            self.failure = f"{where}: {cause(exc)}"
            log.warning("recording not started: cannot write %s (%s); the call goes on "
                        "unrecorded", where, cause(exc))
            return
        self._legs.drop_played()  # played before the call was created: not part of it
        log.info("recording to %s", self.wav_path)

    def attach_speaker(self, sink: AudioSink, frame_captured_at: Callable[[], float]) -> None:
        """Record every block `sink` plays (`Legs.attach_speaker`)."""
        self._legs.attach_speaker(sink, frame_captured_at)

    # called from the event loop, once per uplink tick
    def on_uplink(self, frame: np.ndarray) -> None:
        if not self._writing():
            return
        if not self._legs.started:  # the first frame sent: the JSONL's `t` from the WAV's start
            self._t0 = self._clock()
        self._legs.send(frame)
        self._flush()

    def _on_tail(self) -> None:
        """As the speaker plays out the call's last words (`Legs.tail`)."""
        if self._writing():
            self._legs.tail()
            self._flush()

    def on_event(self, event: messages.Event) -> None:
        """What the JSONL keeps of Vapi's messages: final transcripts, tool calls, transfers."""
        if isinstance(event, messages.Transcript) and event.final and event.exact:
            self.on_transcript(event.role, event.exact, cut=event.cut)
        elif isinstance(event, messages.ToolCalls):
            for call in event.calls:
                self._line({"tool": call.name, "arguments": call.arguments, "id": call.id})
        elif isinstance(event, messages.TransferUpdate):
            self._line({"transfer": event.destination, "to": event.to})

    def on_transcript(self, role: str, text: str, cut: bool = False) -> None:
        self._line({"role": role, "text": text, **({"cut": True} if cut else {})})

    def on_turn(self, turn: int, heard_gap_ms: float) -> None:
        """An answered turn's heard gap (`bridge.call.turns`): one JSONL line."""
        self._line({"turn": turn, "heardGapMs": round(heard_gap_ms, 1)})

    def _line(self, fields: dict[str, object]) -> None:
        if self._writing() and self._files is not None:
            self._files.line(self._stamped(fields))

    def _stamped(self, fields: dict[str, object]) -> str:
        """A JSONL line stamped with both clocks; Vapi's text exact, escaped (`inert_json`)."""
        return inert_json({"t": round(self._clock() - self._t0, 3), "time": datetime.now(
            UTC).isoformat(timespec="milliseconds"), **fields}) + "\n"

    def _writing(self) -> bool:
        """Still recording? A write the thread found failing stops it here, on the loop."""
        if self._files is None or self.failure is not None:
            return False
        if self._files.error is not None:
            self._failed(*self._files.error)
            return False
        return True

    def _failed(self, path: Path, why: str) -> None:
        """Stop recording (both files), say so once, keep what was written."""
        if self.failure is None:
            self.failure = f"{path}: {why}"
            log.warning("recording stopped: cannot write %s (%s)%s", path, why,
                        "" if why.startswith(GONE) else KEPT)  # (GONE: as the call ended)
        if self._files is not None:
            self._files.end()  # what is queued is still written; aclose() waits for it

    def _flush(self, final: bool = False) -> None:
        """What both legs hold to the writer (`Legs.block`)."""
        if self._files is None or (block := self._legs.block(final)) is None:
            return
        if not self._files.audio(block):
            self._failed(self._files.wav_path, f"the disk fell {BACKLOG_S:.0f} s behind")
            return
        self._legs.wrote(block)

    async def aclose(self, connected: bool = True) -> None:
        """Record what the call left queued on the speaker as it plays out, then stop and
        wait (at most `CLOSE_WAIT_S`, on a thread: the loop goes on) for the files; for a call
        whose socket never `connected`, empty ones are removed (`remove_if_empty`)."""
        try:
            sink, early = self._legs.sink, not self._legs.started  # early: over before its
            if sink is not None and self._writing() and (  # first frame was sent: a goodbye
                    not early or sink.playout_stats().depth_ms > 0):  # sent whole, or none
                self._legs.ended()  # (a call never connected)
                await play_out(sink, self._stop, tick=self._on_tail)
        finally:
            files = self._finish()
        if files is not None:
            self._closed(files, await asyncio.to_thread(files.join, CLOSE_WAIT_S), connected)

    def _finish(self) -> RecordingWriter | None:
        """Detach the speaker and queue the last of both legs; the writer still running."""
        self._legs.detach_speaker()
        files = self._files
        if files is None:
            return None
        try:
            if self._writing() and self._legs.started:  # (else nothing was sent or heard)
                self._legs.take_played()
                self._flush(final=True)
        finally:
            self._files = None  # nothing more is queued; what is, the thread still writes
            self._closing = files
        return files

    def _closed(self, files: RecordingWriter, done: bool, connected: bool) -> None:
        self._closing = None
        if files.error is not None:
            self._failed(*files.error)
        elif not done:
            self._failed(files.wav_path, f"the disk is slow: {files.behind_s:.1f} s of "
                         f"audio still unwritten after {CLOSE_WAIT_S:.0f} s")
        if self.failure is None and not connected and files.remove_if_empty():
            self.transcript_path = None  # `note_end` makes no file of it again
        elif self.failure is None:
            log.info("recording finished: %s (%s)", self.wav_path, self._legs.report())

    def freeze(self, timeout: float = 0.5) -> None:
        files = self._files or self._closing
        if files is not None:  # the process exits now: leave the WAV whole on disk
            files.freeze(timeout)

    def note_end(self, call_id: str, ended_reason: str) -> None:
        """The JSONL's last line, once: the call's full id (safe to show once it is over)."""
        if self.transcript_path is None or self.failure is not None or self.noted_end:
            return
        self.noted_end = True
        why = append(self.transcript_path, self._stamped(
            {"ended": {"callId": call_id, "endedReason": ended_reason}}))
        if why is not None:
            self._failed(self.transcript_path, why)
