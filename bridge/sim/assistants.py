"""Assistant behaviours: echo, tone, script:FILE, replay:FILE."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING

import numpy as np

from bridge.sim import events as ev
from bridge.sim.config import AssistantSpec
from bridge.sim.mouth import ToneBed
from bridge.sim.scripts import ReplayEvent, ScriptLine, load_replay, load_script, replay_segments
from bridge.sim.speech import near_silence, tone

if TYPE_CHECKING:
    from bridge.sim.context import SimContext
    from bridge.sim.port import CallPort

ECHO_FIRST = "Hello, this is the echo simulator. Say something and I will say it back."


class Assistant:
    kind = "base"
    scripted = False  # True: no VAD-driven user events (replay sends recorded ones)
    owns_status = False  # True: the assistant sends status-update in-progress itself
    default_first_message: str | None = None

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx

    def first_message_text(self, s: CallPort, *, for_command: bool = False) -> str | None:
        """The first message: assistantOverrides/assistant, then SimConfig, then the default.
        ``say-first-message`` (for_command) takes the first non-empty one of those."""
        opts, cfg = s.rec.options, self.ctx.config
        if for_command:
            found = [c for c in (opts.first_message, cfg.first_message) if c]
            return found[0] if found else self.default_first_message
        if opts.first_message_mode == "assistant-waits-for-user":
            return None
        for candidate in (opts.first_message, cfg.first_message):
            if candidate is not None:
                return candidate or None
        return self.default_first_message

    async def start(self, s: CallPort) -> None:
        text = self.first_message_text(s)
        if text:
            s.say(text, from_model=False, interruptible=s.rec.options.first_message_interruptions)

    async def on_user_turn(self, s: CallPort, audio: np.ndarray, dur: float) -> None:
        return None


class EchoAssistant(Assistant):
    """Plays back what the visitor said, once they stop."""

    kind = "echo"
    default_first_message = ECHO_FIRST

    async def on_user_turn(self, s: CallPort, audio: np.ndarray, dur: float) -> None:
        s.say(f"(echo of {dur:.1f} s)", pcm=audio)


class ToneAssistant(Assistant):
    """Beeps at known times (markers in /_sim/calls); no first message unless given."""

    kind = "tone"

    async def start(self, s: CallPort) -> None:
        cfg = self.ctx.config
        s.mouth.bed = ToneBed(s.mouth.bed.rng, s.rate, cfg.tone_hz, cfg.tone_ms, cfg.tone_period_ms)
        await super().start(s)


class ScriptAssistant(Assistant):
    """Speaks the lines of a YAML script, waiting for the visitor between lines."""

    kind = "script"

    def __init__(self, ctx: SimContext, lines: list[ScriptLine]) -> None:
        super().__init__(ctx)
        self.lines = lines
        self.next = 0
        # one chain of lines at a time: a visitor's turn during a chain of `wait: false`
        # lines waits for it, so the lines (a tool call first) go out in the script's order
        self._chain = asyncio.Lock()
        self.default_first_message = lines[0].text if lines and lines[0].tone is None else None

    async def start(self, s: CallPort) -> None:
        opts, cfg = s.rec.options, self.ctx.config
        overridden = opts.first_message is not None or cfg.first_message is not None
        if overridden or opts.first_message_mode == "assistant-waits-for-user":
            await super().start(s)
        else:
            await self._advance(s, opening=True)

    async def on_user_turn(self, s: CallPort, audio: np.ndarray, dur: float) -> None:
        await self._advance(s)

    async def _advance(self, s: CallPort, *, opening: bool = False) -> None:
        async with self._chain:
            await self._speak_on(s, opening)

    async def _speak_on(self, s: CallPort, opening: bool) -> None:
        """Speak the next line and those after it that do not wait. The opening line is
        the first message: interruptible only with firstMessageInterruptionsEnabled."""
        first = True
        while self.next < len(self.lines):
            line = self.lines[self.next]
            if not first and line.wait:
                return
            first = False
            self.next += 1
            while not s.voice.idle:
                await asyncio.sleep(0.02)
            if line.hang:
                s.emit(ev.hang())
            if line.delay:
                await asyncio.sleep(line.delay)
            if line.tool:
                s.emit(ev.tool_calls(f"call_{uuid.uuid4().hex[:24]}", line.tool,
                                     line.arguments or {}))
                if not line.text and line.tone is None:
                    continue
            after = "assistant-ended-call" if line.end_call else None
            interruptible = s.rec.options.first_message_interruptions if opening else True
            opening = False
            if line.tone is not None:
                pcm = tone(line.tone, line.ms, s.rate)
                s.say(
                    line.text or f"(tone {line.tone:g} Hz)",
                    pcm=pcm,
                    after=after,
                    interruptible=interruptible,
                )
            elif line.transfer:  # the model's transferCall: spoken, then transferred
                kind = "sip" if line.transfer.lower().startswith("sip") else "number"
                key = "sipUri" if kind == "sip" else "number"
                s.say(line.text, after="transfer", interruptible=interruptible,
                      destination={"type": kind, key: line.transfer})
            else:
                s.say(line.text, after=after, interruptible=interruptible)


class ReplayAssistant(Assistant):
    """Sends a recorded call's events at their recorded times (scaled by replay_speed),
    with synthesized audio between the assistant's speech-update started/stopped."""

    kind = "replay"
    scripted = True

    def __init__(self, ctx: SimContext, events: list[ReplayEvent]) -> None:
        super().__init__(ctx)
        self.events = events
        self.owns_status = any(e.event.get("type") == "status-update" for e in events)

    async def start(self, s: CallPort) -> None:
        speed = self.ctx.config.replay_speed
        segments = replay_segments(self.events)
        synth = {
            i: asyncio.ensure_future(self.ctx.synth.speak(text, s.rate))
            for i, (text, _) in segments.items()
        }
        t0 = s.rec.connected_mono or time.monotonic()
        try:
            for i, item in enumerate(self.events):
                delay = t0 + item.at_s / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if s.ended:
                    return
                event = dict(item.event)
                if event.get("type") == "status-update" and event.get("status") == "ended":
                    s.end(str(event.get("endedReason") or "customer-ended-call"))
                    return
                if i in segments:
                    text, seconds = segments[i]
                    pcm = _fit(await synth[i], int(seconds / speed * s.rate), s)
                    s.say(text, pcm=pcm, from_model=False, interruptible=False, silent=True)
                s.emit(event)
        finally:
            for fut in synth.values():
                fut.cancel()


def _fit(pcm: np.ndarray, n: int, s: CallPort) -> np.ndarray:
    if n <= 0:
        return pcm[:0]
    if len(pcm) >= n:
        out = pcm[:n].astype(np.float64)
        fade = min(n, int(0.02 * s.rate))
        out[n - fade :] *= np.linspace(1.0, 0.0, fade)
        return out.astype(np.int16)
    rng = np.random.default_rng(s.cfg.seed)
    return np.concatenate([pcm, near_silence(n - len(pcm), rng)])


def make_assistant(spec: AssistantSpec, ctx: SimContext) -> Assistant:
    if spec.kind == "echo":
        return EchoAssistant(ctx)
    if spec.kind == "tone":
        return ToneAssistant(ctx)
    assert spec.path is not None
    if spec.kind == "script":
        return ScriptAssistant(ctx, load_script(spec.path))
    return ReplayAssistant(ctx, load_replay(spec.path))
