"""Call recording: a stereo WAV at the wire rate and a transcript JSONL (final transcripts
as Vapi sent them, each answered turn's heard gap from `turns`, and the call's end).

Left is what was sent (after echo control); right is what the speaker actually played
(after the playout buffer: flushes, underruns and silence included), taken from a ring the
sink's consumer fills with every block it plays. Both legs are placed on one clock, where
their sound was heard at the kiosk: each frame sent where its start was captured (the
input device's capture clock, less what the resampler and framer still held), each stretch
played where the speaker makes it heard (the output device's clock, stamped on the played
ring). Each leg is a continuous stream of its device's samples, so the placement only
decides the legs' offset, from the first half second (nothing is written before), and
fills with silence time a leg lost later (the loop stalled, a device reopened; a clock
that jumped over `JUMP_S` is not: `timeline`).
The network never moves either leg — a burst, a stall or an oversized frame only changes
what the speaker plays — so the file lasts as long as the call, and speech has no gaps. A
goodbye Vapi sent ahead of real time, still queued when the call ends, is recorded as it
plays out (`tail.play_out`; the call's end waits for it), the sent leg silent.
The placing runs on the loop, once per uplink tick; the files are written on a thread of
their own (`recording_writer`): a slow disk never holds up the tick. The WAV header is
rewritten with every write: the file is valid even if the process dies (`freeze()` first if
it exits at once); `aclose()` waits (at most `CLOSE_WAIT_S`, off the loop) for the writes.

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
from bridge.audio.resample import Resampler
from bridge.audio.ring import SampleRing
from bridge.audio.timeline import Leg, settle
from bridge.call.destination import SUFFIXES, check_destination, expand_path, new_stem
from bridge.call.recording_writer import GONE, KEPT, RecordingWriter, append, cause
from bridge.call.tail import play_out
from bridge.inert import inert_json
from bridge.vapi import messages

log = logging.getLogger("bridge.record")

SLACK_S = 0.050  # this far behind its clock, a leg lost time (≥ 60 ms; stamps jitter less)
JUMP_S = 10.0  # further behind its clock, the clock jumped (`timeline.Leg.place`)
SETTLE_TICKS = 25  # uplink ticks over which the legs' offset is measured
PLAYED_RING_S = 5.0  # played audio awaiting the recorder: drained every 20 ms tick
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
        self._left, self._right = Leg("sent"), Leg("speaker")
        self._written, self._t0 = 0, 0.0
        self._tail_from: int | None = None  # the sent leg's length as the call ended
        self._sink: AudioSink | None = None
        self._speaker: SampleRing | None = None
        self._speaker_on = False  # a block the speaker played in the call was taken
        self._resampler: Resampler | None = None
        self._frame_captured_at: Callable[[], float] | None = None
        self._ref: float | None = None  # the instant at the WAV's start (monotonic)
        self._base: int | None = None  # how far both legs lag their clocks, once settled
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
        if self._speaker is not None:
            self._speaker.take()  # played before the call was created: not part of it
        log.info("recording to %s", self.wav_path)

    def attach_speaker(self, sink: AudioSink, frame_captured_at: Callable[[], float]) -> None:
        """Record every block `sink` plays (a ring, stamped with when each is heard);
        `frame_captured_at()`: when the start of the latest frame sent was captured."""
        self._sink = sink
        self._speaker = sink.add_played_ring(PLAYED_RING_S)
        self._resampler = Resampler(sink.sample_rate, self.rate)
        self._frame_captured_at = frame_captured_at

    # called from the event loop, once per uplink tick
    def on_uplink(self, frame: np.ndarray) -> None:
        if not self._writing():
            return
        captured = (self._frame_captured_at() if self._frame_captured_at is not None
                    else self._clock() - len(frame) / self.rate)
        if self._ref is None:
            self._ref, self._t0 = captured, self._clock()
            if self._speaker is not None:
                self._speaker.take()  # played before the call: not part of it
        self._place(self._left, captured)
        self._left.add(frame.copy())
        self._take_played()
        if self._base is None and len(self._left.lags) >= SETTLE_TICKS:
            self._settle()
        self._flush()

    def _on_tail(self) -> None:
        """As the speaker plays out the call's last words: the sent leg silent beside them."""
        if self._writing():
            self._take_played()
            self._left.add(np.zeros(max(0, self._right.n - self._left.n), dtype=np.int16))
            self._flush()

    def _take_played(self) -> None:
        if self._speaker is None or self._resampler is None:
            self._right.pad(self._left.n)  # no speaker to hear: silence
            return
        idle = not self._speaker_on  # nothing played yet: a stream starting (a sink waking
        block = self._speaker.take()  # up takes over a second) is silence, not time lost
        played = self._resampler.process(block)
        heard = self._speaker.time_of(self._speaker.r)  # when the end of it is heard
        heard = (self._clock() if heard is None else heard) - (
            self._resampler.held_ms + len(played) * 1000.0 / self.rate) / 1000.0
        self._place(self._right, heard, quiet=idle)
        self._right.add(played)
        if idle:
            self._right.padded, self._speaker_on = 0, len(block) > 0

    def _place(self, leg: Leg, at: float, quiet: bool = False) -> None:
        """Pad `leg` up to the instant `at` when more than `SLACK_S` behind (`Leg.place`)."""
        assert self._ref is not None
        padded, jumped = leg.place(round((at - self._ref) * self.rate) - (self._base or 0),
                                   round(SLACK_S * self.rate), round(JUMP_S * self.rate),
                                   settling=self._base is None)
        if jumped:
            log.warning("recording: the %s leg's device clock jumped %+.1f s at %.2f s: not time "
                        "lost (the legs may be apart from here)", leg.name, jumped / self.rate,
                        leg.n / self.rate)
        elif padded and self._base is not None and not quiet:
            log.info("recording: the %s leg lost %.0f ms at %.2f s", leg.name,
                     padded * 1000.0 / self.rate, (leg.n - padded) / self.rate)

    def _settle(self) -> None:
        """After the first half second (nothing is written before): the legs' offset."""
        self._base = settle(self._left, self._right)
        log.info("recording: the speaker's leg placed %.0f ms after the sent one",
                 (self._right.n - self._left.n) * 1000.0 / self.rate)

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
        if self._base is None:
            if not final:
                return  # the legs' offset is not settled yet
            self._settle()
        left, right = self._left.n, self._right.n
        end = max(left, right) if final else min(left, right)
        n = end - self._written
        if n <= 0 or self._files is None:
            return
        stereo = np.empty((n, 2), dtype=np.int16)
        stereo[:, 0] = self._left.take(n)
        stereo[:, 1] = self._right.take(n)
        if not self._files.audio(stereo):
            self._failed(self._files.wav_path, f"the disk fell {BACKLOG_S:.0f} s behind")
            return
        self._written = end

    async def aclose(self, connected: bool = True) -> None:
        """Record what the call left queued on the speaker as it plays out, then stop and
        wait (at most `CLOSE_WAIT_S`, on a thread: the loop goes on) for the files; for a call
        whose socket never `connected`, empty ones are removed (`remove_if_empty`)."""
        try:
            early = self._ref is None  # over before its first frame was sent: a goodbye sent
            if self._sink is not None and self._writing() and (  # whole, or nothing (a call
                    not early or self._sink.playout_stats().depth_ms > 0):  # never connected)
                if early:  # the WAV starts where the speaker's first is heard
                    heard = self._speaker.time_of(self._speaker.r) if self._speaker else None
                    self._ref = heard if heard is not None else self._clock()
                self._tail_from = self._left.n
                await play_out(self._sink, self._stop, tick=self._on_tail)
        finally:
            files = self._finish()
        if files is not None:
            self._closed(files, await asyncio.to_thread(files.join, CLOSE_WAIT_S), connected)

    def _finish(self) -> RecordingWriter | None:
        """Detach the speaker and queue the last of both legs; the writer still running."""
        if self._sink is not None and self._speaker is not None:
            self._sink.remove_played_ring(self._speaker)
            self._sink = None
        files = self._files
        if files is None:
            return None
        try:
            if self._writing() and self._ref is not None:  # (else nothing was sent or heard)
                self._take_played()
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
            start = self._left.n if self._tail_from is None else self._tail_from
            ms, tail = 1000.0 / self.rate, self._left.n - start
            log.info("recording finished: %s (%.1f s, %.2f s of it played out after the call; "
                     "time lost and filled with silence: sent %.0f ms, speaker %.0f ms)",
                     self.wav_path, self._written / self.rate, tail / self.rate,
                     self._left.padded * ms, self._right.padded * ms)

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
