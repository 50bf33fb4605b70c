"""A call's two audio paths, built from a profile: the uplink (microphone → echo control →
wire frames every 20 ms) and the downlink (wire audio → jitter-sized playout → speaker),
with the recorder tapping both legs when there is one."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Awaitable, Callable

from bridge.audio.base import AudioSink, AudioSource, own_sound_until
from bridge.audio.codec import codec_for
from bridge.audio.echo import echo_path
from bridge.call.downlink import Downlink
from bridge.call.looplag import LoopLag
from bridge.call.recording import Recorder
from bridge.call.uplink import Uplink
from bridge.profile.model import Profile


def build_paths(profile: Profile, source: AudioSource, sink: AudioSink,
                send: Callable[[bytes], Awaitable[None]], recorder: Recorder | None = None
                ) -> tuple[Uplink, Downlink]:
    wire, audio = profile.wire, profile.audio
    echo, far_end = echo_path(audio.echo, source, sink, audio.block_ms)
    uplink = Uplink(source, codec_for(wire.format), wire.sample_rate, send,
                    gain=10 ** (audio.input_gain_db / 20),
                    tap=recorder.on_uplink if recorder else None, echo=echo, far_end=far_end,
                    own_sound=functools.partial(own_sound_until, source, sink)
                    if source.is_device and sink.is_device else None,
                    lag=LoopLag(audio.echo if echo is not None else "off"))
    downlink = Downlink(codec_for(wire.format), wire.sample_rate, sink,
                        gain=10 ** (audio.output_gain_db / 20),
                        bounds_ms=(audio.playout_min_ms, audio.playout_max_ms),
                        block_ms=audio.block_ms, start_ms=audio.playout_start_ms)
    if recorder is not None:  # the recording's right leg: what the speaker plays
        up = weakref.proxy(uplink)  # (the uplink taps the recorder: no cycle keeps either)
        recorder.attach_speaker(sink, lambda: up.frame_captured_at())
    return uplink, downlink
