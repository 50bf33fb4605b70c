"""`PulseRig`: the sound server, its topology and the in-process harness, as one context
manager a test holds."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType

import numpy as np

from .daemon import RigError, SoundServer, available, terminate
from .harness import Harness, reinit_portaudio
from .topology import (
    MIC_DEVICE,
    MIC_SINK,
    MIC_SOURCE,
    SPEAKER_DEVICE,
    SPEAKER_SINK,
    SUPPORTED_RATES,
    Loopback,
    daemon_cmd,
    load_echo_path,
    settle_sinks,
    start_keepalives,
    write_config,
)


class PulseRig:
    """Context manager: a private PulseAudio with a virtual speaker and microphone.

    ``rate`` is the native rate of the virtual devices (sinks/sources); a client opening them at
    another rate is resampled by PulseAudio (soxr-mq). ``tmpdir`` receives configs, the daemon
    log and recordings (kept); without it a temp dir is created and removed on exit. The socket
    and XDG_RUNTIME_DIR always live in a short private dir under /tmp (unix socket paths are
    limited to 107 bytes), removed on exit.
    """

    available = staticmethod(available)

    def __init__(
        self,
        rate: int = 48000,
        tmpdir: str | os.PathLike[str] | None = None,
        *,
        block_ms: float = 5.0,
        start_timeout: float = 10.0,
    ) -> None:
        if rate not in SUPPORTED_RATES:
            raise ValueError(f"rate must be one of {SUPPORTED_RATES}, not {rate}")
        self.rate = rate
        self.block_ms = block_ms
        self.start_timeout = start_timeout
        self.speaker_device = SPEAKER_DEVICE
        self.mic_device = MIC_DEVICE
        self.speaker_sink = SPEAKER_SINK
        self.mic_sink = MIC_SINK
        self.mic_source = MIC_SOURCE
        self._tmpdir_arg = Path(tmpdir) if tmpdir is not None else None
        self.base: Path = Path()
        self.env: dict[str, str] = {}
        self.log_path: Path = Path()
        self._server = SoundServer(start_timeout)
        self._harness: Harness | None = None
        self._saved_environ: dict[str, str | None] | None = None
        self._loopbacks: list[Loopback] = []
        self._harness_env: dict[str, str] = {}
        self.sink_latency_ms: dict[str, float] = {}

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> PulseRig:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        ok, why = self.available()
        if not ok:
            raise RigError(why)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.base, run = self._server.make_dirs(self._tmpdir_arg)
        config = write_config(self.base, run, self.rate)
        self.env, self._harness_env, self.log_path = (config.env, config.harness_env,
                                                      config.log_path)
        self._config = config
        self._up()

    def _up(self) -> None:
        config = self._config
        self._server.start(daemon_cmd(config), config.env, config.daemon_conf, config.log_path)
        keepalives = start_keepalives(self._server, self.rate)
        self.sink_latency_ms = settle_sinks(self._server, keepalives)

    def unplug(self) -> None:
        """The sound server and its processes gone, its directories kept: every device is
        gone, as a USB card unplugged (a program started now finds none). `replug()`."""
        for proc in reversed(self._server.procs):
            terminate(proc)
        self._server.procs.clear()

    def replug(self) -> None:
        """The sound server back at the same address, with the same devices."""
        self._up()

    def stop(self) -> None:
        """Tear everything down; idempotent, never leaves a process or the private dirs behind."""
        with contextlib.suppress(Exception):
            self.deactivate_in_process()
        for lb in self._loopbacks:
            lb.removed = True  # they die with the daemon
        self._server.stop()

    @property
    def pid(self) -> int | None:
        """PID of the private pulseaudio (None when stopped)."""
        return self._server.pid

    def pactl(self, *args: str) -> str:
        """Run pactl against the private server; returns stdout, raises RigError on failure."""
        return self._server.pactl(*args)

    def cpu_seconds(self) -> float:
        """CPU time (user+system, seconds) the private pulseaudio has used so far."""
        return self._server.cpu_seconds()

    # ------------------------------------------------------------------ in-process harness

    def activate_in_process(self) -> None:
        """Point *this* process's PortAudio at the rig: sets os.environ (saved, restored by
        deactivate/stop) and re-initialises PortAudio (``sd._terminate(); sd._initialize()``),
        because PortAudio enumerates ALSA devices only at initialisation. Any sounddevice
        stream open in this process at that moment becomes invalid. After this, in-process
        ``sd.query_devices()`` lists vb_speaker, vb_mic and the harness-only rig_mic_in and
        rig_speaker_monitor. Called automatically by play_into_mic/start_speaker_recording."""
        if self._harness is not None:
            return
        if self.pid is None:
            raise RigError("rig is not running")
        self._saved_environ = {k: os.environ.get(k) for k in self._harness_env}
        os.environ.update(self._harness_env)
        reinit_portaudio()
        block = max(1, round(self.rate * self.block_ms / 1000))
        for attempt in range(2):
            h = Harness(self.rate, block)
            try:
                h.open()
            except RigError:
                h.close()
                if attempt == 0:
                    continue  # one retry: a stream that never starts is reopened once
                self._restore_environ()
                raise
            except BaseException:
                h.close()
                self._restore_environ()
                raise
            self._harness = h
            return

    def _restore_environ(self) -> None:
        if self._saved_environ is None:
            return
        for k, v in self._saved_environ.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_environ = None
        with contextlib.suppress(Exception):
            reinit_portaudio()

    def deactivate_in_process(self) -> None:
        """Close the harness streams, restore os.environ and re-initialise PortAudio."""
        if self._harness is not None:
            self._harness.close()
            self._harness = None
        self._restore_environ()

    @property
    def harness(self) -> Harness:
        self.activate_in_process()
        assert self._harness is not None
        return self._harness

    def play_into_mic(self, samples: np.ndarray, rate: int) -> float:
        """Play mono int16 ``samples`` (at ``rate``; resampled with soxr if it differs from the
        rig's rate) into the virtual microphone, mixed with anything already playing. Returns
        once the first sample has been handed to PulseAudio (≤ one 5 ms block), without waiting
        for the clip to finish: the value is the time.monotonic() at which the first sample
        enters the mic sink, i.e. becomes capturable from vb_mic (PortAudio's DAC-time
        estimate; consistent to ~1 ms with the monitor recording, see docs/audio-rig.md)."""
        data = np.asarray(samples)
        if data.ndim == 2:
            data = data[:, 0]
        if data.dtype != np.int16:
            raise TypeError(f"play_into_mic wants int16 samples, got {data.dtype}")
        if rate != self.rate:
            from tests.rig.signals import resample

            data = resample(data, rate, self.rate)
        return self.harness.play(data)

    def wait_mic_idle(self, timeout: float = 30.0) -> None:
        """Block until every clip passed to play_into_mic has been played out."""
        if self._harness is not None:
            self._harness.wait_idle(timeout)

    def start_speaker_recording(self) -> None:
        """Start capturing the virtual speaker's monitor (everything the program plays)."""
        self.harness.start_recording()

    def stop_speaker_recording(self) -> tuple[np.ndarray, int, float]:
        """Stop capturing; returns (mono int16 samples, rate, start_monotonic) where
        start_monotonic is the time.monotonic() at which samples[0] left the virtual speaker.
        Includes everything played up to the moment of this call."""
        if self._harness is None:
            raise RigError("start_speaker_recording() was not called")
        return self._harness.stop_recording()

    def start_mic_recording(self) -> None:
        """Start capturing what reaches the virtual microphone (the mic sink's monitor:
        clips played into it and the echo paths, as they actually ran: a loaded sound server
        moves a path's delay, and two paths that meet add up to 3 dB more than apart)."""
        self.harness.start_mic()

    def stop_mic_recording(self) -> np.ndarray:
        """Stop capturing; mono int16 samples at the rig's rate."""
        if self._harness is None:
            raise RigError("start_mic_recording() was not called")
        return self._harness.stop_mic()

    @property
    def harness_xruns(self) -> dict[str, int]:
        """Under/overflows seen by the harness's own streams (should stay 0): its mic
        player's, its speaker monitor recorder's and its microphone monitor recorder's."""
        h = self._harness
        return {"mic_underflows": h.underflows, "monitor_overflows": h.overflows,
                "mic_monitor_overflows": h.mic_overflows} if h else {}

    # ------------------------------------------------------------------ echo path

    def loop_speaker_into_mic(self, gain_db: float = -6.0, delay_ms: float = 0.0) -> Loopback:
        """Route the speaker's monitor back into the mic sink (module-loopback) at ``gain_db``,
        as an acoustic echo path for echo-cancellation tests.

        ``delay_ms`` is the echo delay (speaker DAC time -> mic), raised to LOOPBACK_MIN_MS (20):
        below that module-loopback glitched in most runs at 5-15 ms. The achieved delay is
        within about ±4 ms of the target and then constant: rate adaptation is off
        (``adjust_time=0``; both sinks run on the same clock), which otherwise made the delay
        wander by 0.5-4 ms per 3 s and smeared the echo. The path is near-transparent
        (module-loopback always resamples, soxr-mq at 1:1: correlation 0.998 at 48 kHz, 0.990
        at 16 kHz). Remove with handle.remove() or use the handle as a context manager; it is
        removed at rig exit anyway."""
        lb = load_echo_path(self._server, gain_db, delay_ms)
        self._loopbacks.append(lb)
        return lb
