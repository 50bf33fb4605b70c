"""`vapi-bridge listen`: the run (see `bridge.cli.listen_args` for the options)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from bridge import redact
from bridge.cli.listen_args import listen_key
from bridge.cli.listen_out import OutFile, check_out
from bridge.cli.listen_verify import correlate
from bridge.control.client import find_socket, load_if_here, request
from bridge.errors import BridgeError, ExitCode, NetworkError, Refused, UsageError
from bridge.profile import Profile, load_profile
from bridge.vapi.listen import AudioChunk, check_listen_url, listen

log = logging.getLogger("bridge.listen")


@dataclass
class Target:
    url: str
    allow_plaintext: bool = False
    call: str | None = None
    monitor: dict[str, Any] = field(default_factory=dict)  # the daemon's answer, if asked
    asked_at: float = 0.0


def _profile(args: argparse.Namespace) -> Profile | None:
    """The profile for --url/--call-id (API settings, with --set; it must load). Asking the
    daemon, `-p NAME` may also name a daemon whose profile file is not here, as for `ctl`."""
    by_api = bool(args.profile and (args.url or args.call_id))
    if args.set and not by_api:
        raise UsageError("--set changes the profile read for --call-id or --url: give both")
    if by_api:
        return load_profile(args.profile, args.set)
    return load_if_here(args.profile) if args.profile else None


def _ask_daemon(args: argparse.Namespace) -> Target:
    path = find_socket(args.profile, args.socket)
    answer = request(path, {"cmd": "monitor"})
    asked = time.monotonic()
    if not answer.get("ok"):
        error = str(answer.get("error", "refused"))
        kinds: dict[str, type[BridgeError]] = {"network": NetworkError, "usage": UsageError}
        raise kinds.get(str(answer.get("kind")), Refused)(error)
    url = str(answer["listenUrl"])
    redact.register_url(url, "listen URL")
    return Target(url, bool(answer.get("allowPlaintext")), str(answer.get("call")), answer,
                  asked)


async def resolve(args: argparse.Namespace, profile: Profile | None) -> Target:
    if args.verify and (args.url or args.call_id):
        raise UsageError("--verify works on the daemon's own call: give --profile or "
                         "--socket, not --url or --call-id")
    if args.url:
        target = Target(args.url, profile.api.allow_plaintext if profile else False)
        check_listen_url(target.url, target.allow_plaintext)
        return target
    if args.call_id:
        if profile is None:
            raise UsageError("--call-id needs --profile (for the API settings and key)")
        from bridge.call.wiring import make_api

        async with make_api(profile) as api:
            info = await api.get_call(args.call_id, attempts=2)
        if not info.listen_url:
            raise Refused(f"Vapi gave no listenUrl for call {args.call_id[-8:]} (is "
                          f"monitorPlan.listenEnabled off?)")
        return Target(info.listen_url, profile.api.allow_plaintext, args.call_id[-8:])
    return _ask_daemon(args)


def mix_to_mono(samples: np.ndarray) -> np.ndarray:
    """(frames, channels) int16 → mono int16: the channels' mean, which cannot clip."""
    return (samples.astype(np.int32).sum(axis=1) // samples.shape[1]).astype(np.int16)


class Player:
    """Both parties mixed to mono, on a speaker."""

    def __init__(self, spec: str, rate: int) -> None:
        from bridge.audio.devices import DeviceSink
        from bridge.audio.playout import PlayoutSettings
        from bridge.audio.resample import Resampler

        # monitoring needs no low latency, and the listen stream arrives in bursts: hold
        # a deep buffer so it plays without gaps (start at 250 ms queued, and keep at
        # least 150 ms while playing, 130 ms of lateness and a 20 ms block, rather than let
        # the buffer shrink to a few blocks)
        self.sink = DeviceSink(spec, rate, playout=PlayoutSettings(start_ms=250, max_ms=600))
        self.sink.set_playout_target(250, 130)
        self.resampler = Resampler(rate, self.sink.sample_rate)
        self.sink.start()

    def play(self, chunk: AudioChunk) -> None:
        self.sink.capture_frame(self.resampler.process(mix_to_mono(chunk.samples)))

    def close(self) -> str:
        """Close the speaker; how the playback went, for the closing line."""
        self.sink.close()
        st = self.sink.playout_stats()
        said = [f"{st.underruns} gap(s) ({st.audible_underruns} audible)" if st.underruns
                else "no gap"]
        dev = self.sink.device_stats
        if dev is not None and dev.output_underflows:  # fed too late: the device ran dry
            said.append(f"the speaker ran dry {dev.output_underflows} time(s)")
        if st.speech_dropped_ms:
            said.append(f"{st.speech_dropped_ms:.0f} ms of speech dropped to keep up")
        if st.silence_dropped_ms:
            said.append(f"{st.silence_dropped_ms:.0f} ms of silence skipped to keep up")
        if st.stretched_ms:
            said.append(f"{st.stretched_ms:.0f} ms of silence held back to refill")
        return "played with " + ", ".join(said)


@dataclass
class Session:
    writer: OutFile | None = None
    out: Path | None = None
    player: Player | None = None
    kept: list[np.ndarray] = field(default_factory=list)
    labels: tuple[str, ...] | None = None
    rate: int = 0
    channels: int = 0
    frames: int = 0
    first_audio: float = 0.0


async def _consume(args: argparse.Namespace, target: Target, key: str | None,
                   s: Session) -> None:
    async for item in listen(target.url, public_key=key, channels=args.channels,
                             rate=args.rate, allow_plaintext=target.allow_plaintext):
        if not isinstance(item, AudioChunk):
            if not args.no_events:
                print(redact.mask(json.dumps(item.data)), flush=True)  # ASCII: inert
            continue
        if not s.frames:
            s.first_audio = time.monotonic()
            s.rate, s.channels, s.labels = item.rate, item.channels, item.labels
            if s.out is not None:
                s.writer = OutFile(s.out, item.rate, item.channels)
                print(f"writing {s.out}", file=sys.stderr, flush=True)
            _say_when_joined(target, s.first_audio)
            if args.play:
                s.player = Player(args.play, item.rate)
        s.frames += len(item.samples)
        if s.writer is not None:
            s.writer.write(item.samples)
        if s.player is not None:
            s.player.play(item)
        if args.verify:
            s.kept.append(item.samples)


def joined_s(target: Target, first_audio: float) -> float | None:
    """How far into the call the first audio came, where the daemon said how much it had
    sent when asked (its `monitor` answer; None without one)."""
    sent = target.monitor.get("sentSeconds")
    if isinstance(sent, bool) or not isinstance(sent, (int, float)) \
            or not 0 <= sent < math.inf:  # NaN and infinities fail too
        return None
    return float(sent) + (first_audio - target.asked_at)


def _say_when_joined(target: Target, first_audio: float) -> None:
    """A supervisor who joins late hears nothing said before: the stream has no history."""
    joined = joined_s(target, first_audio)
    if joined is not None:
        print(f"joined {joined:.1f} s into the call: what was said before is not in the "
              f"listen stream", file=sys.stderr, flush=True)


def _check_play(spec: str) -> None:
    """The --play speaker found before joining the call, in the words of the option."""
    from bridge.audio.device_lookup import find_device

    find_device(spec, "output", key="--play", none="leave out --play")


async def run_listen(args: argparse.Namespace) -> int:
    profile = _profile(args)
    target = await resolve(args, profile)
    if args.verify and not target.monitor.get("recording"):
        raise UsageError("--verify compares with the daemon's own recording of the call: set "
                         "record.path in the daemon's profile")
    key = listen_key(args, profile, bool(target.monitor.get("auth")))
    s = Session()
    if args.out != "-":
        s.out = Path(args.out or f"listen-{datetime.now():%Y%m%dT%H%M%S}.wav")
        check_out(s.out)
    if args.play:
        _check_play(args.play)
    print(f"listening to call {target.call or '(from URL)'}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    consumer = asyncio.create_task(_consume(args, target, key, s))
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({consumer, stopper}, timeout=args.seconds,
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        stopper.cancel()
        if not consumer.done():
            consumer.cancel()
        try:  # a stream refused halfway (its error raised here) keeps what was recorded
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
        finally:
            if s.writer is not None:
                s.writer.close()
            played = s.player.close() if s.player is not None else None
    shape = f"{s.channels} channel(s) at {s.rate} Hz" if s.frames else "no audio"
    print(f"listen: {s.frames / s.rate if s.rate else 0:.1f} s of {shape}"
          + (f" written to {s.out}" if s.writer else "") + (f", {played}" if played else ""),
          file=sys.stderr, flush=True)
    return _verify(target, s) if args.verify else ExitCode.OK


def _verify(target: Target, s: Session) -> int:
    if not s.kept:
        print("verify: inconclusive: no audio was heard", file=sys.stderr)
        return ExitCode.FAILURE
    listen_audio = np.concatenate(s.kept)
    mon = target.monitor
    joined = joined_s(target, s.first_audio)
    if joined is None:  # the daemon's answer had no count: from when it was asked
        joined = s.first_audio - target.asked_at
    offset = joined - len(s.kept[0]) / s.rate
    try:
        report = correlate(listen_audio, s.rate, s.labels, Path(mon["recording"]), offset)
    except (OSError, EOFError, ValueError) as exc:
        raise Refused(f"cannot read the daemon's recording {mon['recording']}: {exc}") from None
    for line in report.lines():
        print(f"verify: {line}", flush=True)
    return ExitCode.OK if report.mapping else ExitCode.FAILURE


def cmd(args: argparse.Namespace) -> int:
    return asyncio.run(run_listen(args))
