"""The assistant's voice on one call: an ordered queue of lines to speak (synthesized or
given as audio), barge-in, and the events that follow the audio as it is sent."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bridge.sim import events as ev
from bridge.sim.commands import do_transfer
from bridge.sim.mouth import Bed, Mouth, Utterance

if TYPE_CHECKING:
    from bridge.sim.port import CallPort


@dataclass
class SpeakRequest:
    text: str
    pcm: np.ndarray | None
    from_model: bool
    interruptible: bool
    after: str | None
    silent: bool
    epoch: int
    meta: dict[str, Any]


class Voice:
    """Implements the Mouth's listener: speech-update, cumulative partials, finals,
    conversation-update and the bot entry of GET /call's messages."""

    def __init__(self, session: CallPort, bed: Bed) -> None:
        self.s = session
        self.rate = session.rate
        self.mouth = Mouth(self.rate, bed, self)
        self.queue: asyncio.Queue[SpeakRequest] = asyncio.Queue()
        self.epoch = 0  # bumped on barge-in: lines requested before it are dropped
        self.turn = 0
        # the reply being thought of starts no sooner (monotonic; the think time): taken
        # by the next line asked for, cleared once the reply is given
        self.hold_until: float | None = None

    @property
    def idle(self) -> bool:
        return not self.mouth.busy and self.queue.empty()

    def say(
        self,
        text: str,
        *,
        pcm: np.ndarray | None = None,
        from_model: bool = True,
        interruptible: bool = True,
        after: str | None = None,
        silent: bool = False,
        **meta: Any,
    ) -> None:
        """Queue a line (in order; synthesized when no pcm is given).

        ``after``: an endedReason to end the call with once spoken, or "transfer"."""
        if self.hold_until is not None:
            meta["not_before"], self.hold_until = self.hold_until, None
        self.queue.put_nowait(
            SpeakRequest(text, pcm, from_model, interruptible, after, silent, self.epoch, meta)
        )

    def interrupt(self, *, only_interruptible: bool = True) -> None:
        """Barge-in: stop the current line and drop the queued ones (`only_interruptible`:
        not a line the visitor may not interrupt, nor those queued after it)."""
        self.epoch += 1
        self.mouth.interrupt(only_interruptible=only_interruptible)

    async def run(self) -> None:
        s = self.s
        while True:
            req = await self.queue.get()
            pcm = req.pcm if req.pcm is not None else await s.synth.speak(req.text, self.rate)
            if s.ended or (req.interruptible and req.epoch != self.epoch):
                continue
            turn, turn_id = self.turn, str(uuid.uuid4())
            self.turn += 1
            if req.from_model and not req.silent:
                s.emit(ev.model_output(req.text, turn_id))
                s.emit(ev.voice_input(req.text, turn))
            utt = Utterance(req.text, pcm, turn, turn_id, req.interruptible, req.silent, req.after)
            utt.meta["source"] = "model" if req.from_model else "force-say"
            utt.meta.update(req.meta)
            utt.not_before = utt.meta.pop("not_before", None)
            utt.start_at = self._stream_pos_at(utt.not_before)
            self.mouth.enqueue(utt)

    def _stream_pos_at(self, mono: float | None) -> int:
        """The downlink stream position sent at monotonic time `mono` (0: no hold): the
        stream runs in real time from the connection, ahead by the pump's lead."""
        s, connected = self.s, self.s.rec.connected_mono
        if mono is None or connected is None:
            return 0
        lead = s.pump.lead / s.rec.fmt.bytes_per_sample if s.pump is not None else 0.0
        return max(0, round((mono - connected) * self.rate + lead))

    # ---- MouthListener ----------------------------------------------------------------
    def utterance_started(self, utt: Utterance) -> None:
        utt.meta["start_wall"] = self.s.wall_at(utt.start_stream_pos)
        if not utt.silent:
            self.s.emit(ev.speech_update("started", "assistant", utt.turn))
            if utt.meta.get("source"):
                self.s.emit(ev.speech_started(utt.text, utt.turn, utt.meta["source"]))
        if utt.after and utt.after != "transfer" and \
                (early := self.s.rec.faults.get("ended-first")) is not None:
            self.s.spawn(self._ended_first(utt.after, early.number() / 1000.0))

    async def _ended_first(self, reason: str, delay: float) -> None:
        """Fault `ended-first`: Vapi's `ended` ahead of the goodbye's audio (nothing in the
        protocol orders them); the call ends, and the socket closes, once it is sent."""
        await asyncio.sleep(delay)
        if not self.s.ended:
            self.s.emit(ev.status_update("ended", reason))
            self.s.rec.mark_ended(reason)  # GET /call/{id} says it too (it said the
            # client's close, customer-ended-call, and the bridge's summary printed that)

    def utterance_progress(self, utt: Utterance) -> None:
        if utt.silent or utt.done or utt.pos - utt.last_partial_pos < int(0.48 * self.rate):
            return
        utt.last_partial_pos = utt.pos
        words = utt.text.split()
        k = math.ceil(len(words) * utt.pos / max(1, len(utt.pcm)))
        if 0 < k < len(words) and k > utt.words_sent:
            utt.words_sent = k
            text = " ".join(words[:k])
            self.s.emit(ev.transcript("assistant", "partial", text, self.s.assistant_id))

    def utterance_ended(self, utt: Utterance, interrupted: bool) -> None:
        s = self.s
        if not utt.silent:
            spoken = " ".join(utt.text.split()[: utt.words_sent]) if interrupted else utt.text
            s.emit(ev.speech_update("stopped", "assistant", utt.turn))
            start = utt.meta.get("start_wall", time.time())
            end = s.wall_at(utt.start_stream_pos + utt.pos)
            if spoken:
                s.emit(ev.transcript("assistant", "final", spoken, s.assistant_id))
                s.rec.conversation.append({"role": "assistant", "content": spoken})
                s.emit_conversation()
                s.rec.add_message("bot", spoken, start, end)
        if interrupted or not utt.after:
            return
        if utt.after == "transfer":
            s.spawn(do_transfer(s, utt.meta.get("destination")))
        else:
            s.end_later(utt.after, delay=0.0)  # as soon as the last of it is sent
