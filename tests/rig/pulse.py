"""A private, user-mode PulseAudio with a virtual speaker and a virtual microphone.

The program under test (usually a child process started with ``env=rig.env``) sees two ALSA
devices through PortAudio: ``vb_speaker`` (output only) and ``vb_mic`` (input only). The harness
plays "what the microphone hears" into the mic and records "what the speaker played" from the
speaker's monitor, with monotonic timestamps. See docs/audio-rig.md.

Topology (all inside one private ``pulseaudio`` started by this module)::

    harness ─► [sink vb_mic_in] ─monitor─► [remap source vb_mic] ─► ALSA "vb_mic" ─► program
    program ─► ALSA "vb_speaker" ─► [sink vb_speaker] ─monitor─► harness recorder
                                      └─(optional module-loopback: acoustic echo)─► vb_mic_in

Nothing of the machine's own audio configuration is read or written: the daemon and every client
get a private HOME, XDG_RUNTIME_DIR, XDG_CONFIG_HOME, daemon.conf, client.conf and socket.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import glob
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

SUPPORTED_RATES = (16000, 44100, 48000)

# PortAudio (ALSA host API) device names the program under test uses.
SPEAKER_DEVICE = "vb_speaker"
MIC_DEVICE = "vb_mic"
# PulseAudio object names.
SPEAKER_SINK = "vb_speaker"  # null sink the program plays into
MIC_SINK = "vb_mic_in"  # null sink the harness plays "mic" audio into
MIC_SOURCE = "vb_mic"  # remap source on vb_mic_in.monitor: the virtual microphone
# Harness-only ALSA devices (visible in-process after activate_in_process(), not in rig.env).
_HARNESS_MIC_IN = "rig_mic_in"
_HARNESS_SPEAKER_MONITOR = "rig_speaker_monitor"

_ALSA_CONF_CANDIDATES = ("/usr/share/alsa/alsa.conf", "/etc/alsa/alsa.conf")
_PULSE_PCM_PLUGIN_GLOBS = (
    "/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so",
    "/usr/lib/alsa-lib/libasound_module_pcm_pulse.so",
    "/usr/lib64/alsa-lib/libasound_module_pcm_pulse.so",
)
LOOPBACK_MIN_MS = 20
# Harness stream buffering. Timestamps do not depend on it (they come from PortAudio's DAC/ADC
# times), so it is generous: with ~8 ms ("low") or 30 ms the harness's own mic player underflowed
# on a 2-core machine with one core kept busy, glitching the "mic" signal.
_HARNESS_LATENCY_S = 0.1
DEBIAN_PACKAGES = "libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins"


class RigError(RuntimeError):
    """The rig could not be started or operated; the message includes the daemon log tail."""


def _alsa_conf() -> str | None:
    return next((p for p in _ALSA_CONF_CANDIDATES if os.path.exists(p)), None)


def _terminate(proc: subprocess.Popen[bytes] | None, timeout: float = 3.0) -> None:
    """SIGTERM one process we started, wait, then SIGKILL; never raises."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, OSError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, OSError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)


def _finalize(procs: list[subprocess.Popen[bytes]], dirs: list[Path]) -> None:
    """Last-resort cleanup (garbage collection / interpreter exit) if __exit__ never ran."""
    for p in reversed(procs):
        _terminate(p, 1.0)
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_stale_dirs() -> None:
    """Remove private dirs left by a rig whose owning process died without cleanup (SIGKILL):
    the daemon itself is gone by then (parent-death signal), only its temp dirs remain."""
    for d in glob.glob(os.path.join(tempfile.gettempdir(), "vbrig-*")) + glob.glob("/tmp/vbrig-*"):
        owner = Path(d) / "owner.pid"
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            continue
        if not _pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)


def _reinit_portaudio() -> None:
    """Make PortAudio re-read the (ALSA) device list: it enumerates only in Pa_Initialize."""
    import sounddevice as sd

    n = max(1, sd._initialized)
    for _ in range(sd._initialized):
        sd._terminate()
    for _ in range(n):
        sd._initialize()


@dataclass
class _Clip:
    data: np.ndarray
    pos: int = 0
    t_start: float = 0.0
    started: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


class Loopback:
    """A module-loopback from the speaker monitor into the mic sink (an acoustic echo path)."""

    def __init__(
        self, rig: PulseRig, module: int, sink_input: int, gain_db: float, delay_ms: float
    ) -> None:
        self._rig = rig
        self.module = module
        self.sink_input = sink_input
        self.gain_db = gain_db
        self.delay_ms = delay_ms
        self.removed = False

    def remove(self) -> None:
        if not self.removed:
            self.removed = True
            with contextlib.suppress(RigError):
                self._rig.pactl("unload-module", str(self.module))

    def __enter__(self) -> Loopback:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class PulseRig:
    """Context manager: a private PulseAudio with a virtual speaker and microphone.

    ``rate`` is the native rate of the virtual devices (sinks/sources); a client opening them at
    another rate is resampled by PulseAudio (soxr-mq). ``tmpdir`` receives configs, the daemon
    log and recordings (kept); without it a temp dir is created and removed on exit. The socket
    and XDG_RUNTIME_DIR always live in a short private dir under /tmp (unix socket paths are
    limited to 107 bytes), removed on exit.
    """

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
        self._run: Path | None = None
        self._owned_dirs: list[Path] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._daemon: subprocess.Popen[bytes] | None = None
        self._keepalives: list[subprocess.Popen[bytes]] = []
        self._finalizer: weakref.finalize | None = None
        self._harness: _Harness | None = None
        self._saved_environ: dict[str, str | None] | None = None
        self._loopbacks: list[Loopback] = []
        self._harness_env: dict[str, str] = {}
        self.sink_latency_ms: dict[str, float] = {}

    # ------------------------------------------------------------------ availability

    @staticmethod
    def available() -> tuple[bool, str]:
        """(True, "") when pulseaudio, pactl, pacat, the ALSA pulse plugin and libportaudio are
        present; otherwise (False, reason naming the Debian packages). Local runs may skip on
        False; CI installs the packages and must not skip."""
        missing = [exe for exe in ("pulseaudio", "pactl", "pacat") if shutil.which(exe) is None]
        if ctypes.util.find_library("portaudio") is None:
            missing.append("libportaudio2")
        if not any(glob.glob(g) for g in _PULSE_PCM_PLUGIN_GLOBS):
            missing.append("ALSA pulse plugin (libasound2-plugins)")
        if _alsa_conf() is None:
            missing.append("alsa.conf (libasound2-data)")
        if missing:
            return False, (
                f"virtual audio rig unavailable, missing: {', '.join(missing)} "
                f"(apt-get install {DEBIAN_PACKAGES})"
            )
        return True, ""

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
        _sweep_stale_dirs()
        if self._tmpdir_arg is None:
            self.base = Path(tempfile.mkdtemp(prefix="vbrig-"))
            self._owned_dirs.append(self.base)
            (self.base / "owner.pid").write_text(str(os.getpid()))
        else:
            self.base = self._tmpdir_arg
            self.base.mkdir(parents=True, exist_ok=True)
        self._run = Path(tempfile.mkdtemp(prefix="vbrig-run-", dir="/tmp"))
        self._owned_dirs.append(self._run)
        (self._run / "owner.pid").write_text(str(os.getpid()))
        self._finalizer = weakref.finalize(self, _finalize, self._procs, self._owned_dirs)

        home = self.base / "home"
        cfg = home / ".config"
        pulse_dir = self.base / "pulse"
        alsa_dir = self.base / "alsa"
        for d in (home, cfg / "pulse", pulse_dir, alsa_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._run.chmod(0o700)
        socket = self._run / "native"
        server = f"unix:{socket}"
        self.log_path = pulse_dir / "pulseaudio.log"

        (pulse_dir / "rig.pa").write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={socket}\n"
            f"load-module module-null-sink sink_name={SPEAKER_SINK} rate={self.rate} channels=1 "
            f"format=s16le channel_map=mono sink_properties=device.description=vb-speaker\n"
            f"load-module module-null-sink sink_name={MIC_SINK} rate={self.rate} channels=1 "
            f"format=s16le channel_map=mono sink_properties=device.description=vb-mic-in\n"
            f"load-module module-remap-source source_name={MIC_SOURCE} master={MIC_SINK}.monitor "
            f"channels=1 channel_map=mono master_channel_map=mono remix=no "
            f"source_properties=device.description=vb-mic\n"
            f"set-default-sink {SPEAKER_SINK}\n"
            f"set-default-source {MIC_SOURCE}\n"
        )
        daemon_conf = pulse_dir / "daemon.conf"
        daemon_conf.write_text(
            f"default-sample-rate = {self.rate}\n"
            f"alternate-sample-rate = {self.rate}\n"
            "default-sample-format = s16le\n"
            "default-sample-channels = 1\n"
            "resample-method = soxr-mq\n"
            "flat-volumes = no\n"
            "enable-memfd = no\n"
        )
        client_conf = pulse_dir / "client.conf"
        client_conf.write_text(f"default-server = {server}\nautospawn = no\nenable-memfd = no\n")
        (cfg / "pulse" / "client.conf").write_text(client_conf.read_text())

        alsa_conf = _alsa_conf()
        assert alsa_conf is not None
        devices = (
            f"pcm.{SPEAKER_DEVICE} {{ type asym; playback.pcm {{ type pulse; "
            f'server "{server}"; device "{SPEAKER_SINK}" }} }}\n'
            f"pcm.{MIC_DEVICE} {{ type asym; capture.pcm {{ type pulse; "
            f'server "{server}"; device "{MIC_SOURCE}" }} }}\n'
        )
        devices_conf = alsa_dir / "devices.conf"
        devices_conf.write_text(devices)
        (home / ".asoundrc").write_text(devices)
        harness_conf = alsa_dir / "harness.conf"
        harness_conf.write_text(
            f"pcm.{_HARNESS_MIC_IN} {{ type asym; playback.pcm {{ type pulse; "
            f'server "{server}"; device "{MIC_SINK}" }} }}\n'
            f"pcm.{_HARNESS_SPEAKER_MONITOR} {{ type asym; capture.pcm {{ type pulse; "
            f'server "{server}"; device "{SPEAKER_SINK}.monitor" }} }}\n'
        )

        self.env = {
            "PULSE_SERVER": server,
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(self._run),
            "XDG_CONFIG_HOME": str(cfg),
            "PULSE_CLIENTCONFIG": str(client_conf),
            "ALSA_CONFIG_PATH": f"{alsa_conf}:{devices_conf}",
        }
        self._harness_env = dict(
            self.env, ALSA_CONFIG_PATH=f"{alsa_conf}:{devices_conf}:{harness_conf}"
        )

        cmd = [
            "pulseaudio",
            "-n",
            "-F",
            str(pulse_dir / "rig.pa"),
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--realtime=no",
            "--high-priority=no",
            "--use-pid-file=no",
            "--disallow-exit=yes",
            f"--log-target=file:{self.log_path}",
        ]
        daemon_env = dict(os.environ, **self.env, PULSE_CONFIG=str(daemon_conf))
        self._daemon = self._spawn(cmd, daemon_env, pulse_dir / "pulseaudio.stderr")
        self._wait_ready()
        for sink in (SPEAKER_SINK, MIC_SINK):
            self._keepalives.append(
                self._spawn(
                    [
                        "pacat",
                        "--playback",
                        f"--device={sink}",
                        "--latency-msec=10",
                        "--raw",
                        "--format=s16le",
                        f"--rate={self.rate}",
                        "--channels=1",
                        "--client-name=vbrig-keepalive",
                        f"--stream-name=keepalive-{sink}",
                    ],
                    dict(os.environ, **self.env),
                    pulse_dir / f"keepalive-{sink}.stderr",
                    stdin_zero=True,
                )
            )
        self._wait_sinks_running()

    def _spawn(
        self, cmd: list[str], env: dict[str, str], stderr_path: Path, *, stdin_zero: bool = False
    ) -> subprocess.Popen[bytes]:
        # setpriv --pdeathsig: the child gets SIGTERM if this process dies without cleaning up
        # (e.g. pytest killed with SIGKILL). Note: it fires when the *thread* that spawned it
        # exits, so start the rig from a long-lived thread (the main thread in pytest).
        prefix = ["setpriv", "--pdeathsig", "TERM", "--"] if shutil.which("setpriv") else []
        with open(stderr_path, "ab") as err:
            stdin: Any = subprocess.DEVNULL
            zero = open("/dev/zero", "rb") if stdin_zero else None  # noqa: SIM115
            try:
                proc = subprocess.Popen(
                    prefix + cmd,
                    env=env,
                    stdin=zero if zero is not None else stdin,
                    stdout=err,
                    stderr=err,
                    start_new_session=True,
                )
            finally:
                if zero is not None:
                    zero.close()
        self._procs.append(proc)
        return proc

    def _log_tail(self, n: int = 15) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no pulseaudio log)"
        return "\n".join(lines[-n:])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._daemon is not None and self._daemon.poll() is not None:
                raise RigError(
                    f"pulseaudio exited with {self._daemon.returncode} during startup:\n"
                    + self._log_tail()
                )
            r = subprocess.run(
                ["pactl", "info"], env=self._client_env(), capture_output=True, timeout=5
            )
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RigError("pulseaudio did not become ready:\n" + self._log_tail())
            time.sleep(0.02)

    def _sink_info(self) -> dict[str, dict[str, Any]]:
        return {str(si["name"]): si for si in json.loads(self.pactl("-f", "json", "list", "sinks"))}

    def _wait_sinks_running(self) -> None:
        """Wait for both sinks to run with the keep-alives attached, then drop their backlog.

        A null sink loaded with no client renders ~2 s ahead of real time (its idle block);
        when the first client attaches, that backlog drains in real time, so for up to 2 s
        everything played into the sink comes out late (the "idle null sinks sleep" pitfall).
        Suspending and resuming the sink resets its clock; afterwards its latency is ~1-3 ms.
        """
        deadline = time.monotonic() + self.start_timeout
        while True:
            for k in self._keepalives:
                if k.poll() is not None:
                    raise RigError(f"keep-alive pacat exited with {k.returncode}")
            info = self._sink_info()
            if all(info.get(s, {}).get("state") == "RUNNING" for s in (SPEAKER_SINK, MIC_SINK)):
                break
            if time.monotonic() > deadline:
                raise RigError(f"sinks not running: {info}\n" + self._log_tail())
            time.sleep(0.02)
        for _attempt in range(5):
            for s in (SPEAKER_SINK, MIC_SINK):
                self.pactl("suspend-sink", s, "1")
                self.pactl("suspend-sink", s, "0")
            time.sleep(0.03)
            info = self._sink_info()
            lat = {s: float(info[s]["latency"]["actual"]) / 1000 for s in (SPEAKER_SINK, MIC_SINK)}
            states = {s: info[s]["state"] for s in (SPEAKER_SINK, MIC_SINK)}
            if all(v < 20 for v in lat.values()) and all(v == "RUNNING" for v in states.values()):
                self.sink_latency_ms = lat
                return
        raise RigError(f"sink latency did not settle: {lat} {states}\n" + self._log_tail())

    def stop(self) -> None:
        """Tear everything down; idempotent, never leaves a process or the private dirs behind."""
        with contextlib.suppress(Exception):
            self.deactivate_in_process()
        for lb in self._loopbacks:
            lb.removed = True  # they die with the daemon
        for k in self._keepalives:
            _terminate(k)
        _terminate(self._daemon)
        for p in self._procs:
            _terminate(p)
        self._keepalives.clear()
        self._daemon = None
        for d in self._owned_dirs:
            shutil.rmtree(d, ignore_errors=True)
        self._owned_dirs.clear()
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    @property
    def pid(self) -> int | None:
        """PID of the private pulseaudio (None when stopped)."""
        d = self._daemon
        return d.pid if d is not None and d.poll() is None else None

    def _client_env(self) -> dict[str, str]:
        return dict(os.environ, **self.env)

    def pactl(self, *args: str) -> str:
        """Run pactl against the private server; returns stdout, raises RigError on failure."""
        r = subprocess.run(
            ["pactl", *args], env=self._client_env(), capture_output=True, text=True, timeout=10
        )
        if r.returncode != 0:
            raise RigError(f"pactl {' '.join(args)} failed: {r.stderr.strip()}")
        return r.stdout

    def cpu_seconds(self) -> float:
        """CPU time (user+system, seconds) the private pulseaudio has used so far."""
        if self.pid is None:
            return 0.0
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

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
        _reinit_portaudio()
        block = max(1, round(self.rate * self.block_ms / 1000))
        for attempt in range(2):
            h = _Harness(self.rate, block)
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
            _reinit_portaudio()

    def deactivate_in_process(self) -> None:
        """Close the harness streams, restore os.environ and re-initialise PortAudio."""
        if self._harness is not None:
            self._harness.close()
            self._harness = None
        self._restore_environ()

    @property
    def harness(self) -> _Harness:
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
            from .signals import resample

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

    @property
    def harness_xruns(self) -> dict[str, int]:
        """Under/overflows seen by the harness's own streams (should stay 0)."""
        h = self._harness
        return {"mic_underflows": h.underflows, "monitor_overflows": h.overflows} if h else {}

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
        latency = max(LOOPBACK_MIN_MS, round(delay_ms))
        module = int(
            self.pactl(
                "load-module",
                "module-loopback",
                f"source={SPEAKER_SINK}.monitor",
                f"sink={MIC_SINK}",
                f"latency_msec={latency}",
                "source_dont_move=true",
                "sink_dont_move=true",
                "remix=no",
                "adjust_time=0",
                "sink_input_properties=media.name=vbrig-echo-path",
            ).strip()
        )
        deadline = time.monotonic() + 5
        sink_input: int | None = None
        while sink_input is None:
            for si in json.loads(self.pactl("-f", "json", "list", "sink-inputs") or "[]"):
                if str(si.get("owner_module")) == str(module):
                    sink_input = int(si["index"])
            if sink_input is None:
                if time.monotonic() > deadline:
                    self.pactl("unload-module", str(module))
                    raise RigError("module-loopback sink input did not appear")
                time.sleep(0.02)
        self.pactl("set-sink-input-volume", str(sink_input), f"{gain_db:.2f}dB")
        lb = Loopback(self, module, sink_input, gain_db, float(latency))
        self._loopbacks.append(lb)
        return lb


class _Harness:
    """The rig's in-process side: one OutputStream into the mic sink and one InputStream on the
    speaker monitor, both opened once and kept running (no per-clip stream start-up)."""

    def __init__(self, rate: int, block: int) -> None:
        self.rate = rate
        self.block = block
        self._lock = threading.Lock()
        self._clips: list[_Clip] = []
        self._idle = threading.Event()
        self._idle.set()
        self.underflows = 0
        self.overflows = 0
        self.underflow_times: list[float] = []  # time.monotonic() of each mic-player underflow
        self._out_callbacks = 0
        self._in_frames = 0
        self._in_callbacks = 0
        self._last_adc_end = 0.0
        # (frame index, monotonic time of that frame's capture) estimates, last ~20 s
        self._est: deque[tuple[int, float]] = deque(maxlen=max(100, 20 * rate // block))
        self._recording = False
        self._rec_chunks: list[np.ndarray] = []
        self._rec_first_frame: int | None = None
        self._out: Any = None
        self._in: Any = None

    def open(self) -> None:
        import sounddevice as sd

        self._out = sd.OutputStream(
            device=_HARNESS_MIC_IN,
            samplerate=self.rate,
            channels=1,
            dtype="int16",
            blocksize=self.block,
            latency=_HARNESS_LATENCY_S,
            callback=self._out_cb,
        )
        self._in = sd.InputStream(
            device=_HARNESS_SPEAKER_MONITOR,
            samplerate=self.rate,
            channels=1,
            dtype="int16",
            blocksize=self.block,
            latency=_HARNESS_LATENCY_S,
            callback=self._in_cb,
        )
        self._in.start()
        self._out.start()
        # Both streams' timing estimates are off during the first ~100 ms (PortAudio/pulse
        # priming; the first output callbacks come in a burst to fill the buffer): wait 0.2 s
        # and until both callbacks are running.
        t0 = time.monotonic()
        deadline = t0 + 5
        need = int(0.1 * self.rate / self.block)
        while (
            self._out_callbacks < need or self._in_callbacks < need or time.monotonic() - t0 < 0.2
        ):
            if time.monotonic() > deadline:
                raise RigError(
                    f"harness streams not running (out callbacks {self._out_callbacks}, "
                    f"in callbacks {self._in_callbacks})"
                )
            time.sleep(0.01)

    def close(self) -> None:
        for s in (self._out, self._in):
            if s is not None:
                with contextlib.suppress(Exception):
                    s.abort()
                with contextlib.suppress(Exception):
                    s.close()
        self._out = self._in = None
        with self._lock:
            for c in self._clips:
                c.started.set()
                c.done.set()
            self._clips.clear()
            self._idle.set()

    # -- mic player

    def _out_cb(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = time.monotonic()
        if status.output_underflow:
            self.underflows += 1
            self.underflow_times.append(now)
        self._out_callbacks += 1
        with self._lock:
            if not self._clips:
                outdata.fill(0)
                return
            dac = now + (time_info.outputBufferDacTime - time_info.currentTime)
            mix = np.zeros(frames, dtype=np.int32)
            keep: list[_Clip] = []
            for c in self._clips:
                if c.pos == 0:
                    c.t_start = dac
                    c.started.set()
                k = min(frames, len(c.data) - c.pos)
                mix[:k] += c.data[c.pos : c.pos + k]
                c.pos += k
                if c.pos >= len(c.data):
                    c.done.set()
                else:
                    keep.append(c)
            self._clips = keep
            if not keep:
                self._idle.set()
        outdata[:, 0] = np.clip(mix, -32768, 32767)

    def play(self, data: np.ndarray) -> float:
        if self._out is None:
            raise RigError("harness is closed")
        clip = _Clip(np.ascontiguousarray(data, dtype=np.int16))
        if len(clip.data) == 0:
            return time.monotonic()
        with self._lock:
            self._clips.append(clip)
            self._idle.clear()
        if not clip.started.wait(2.0):
            raise RigError("mic player stream is not running")
        return clip.t_start

    def wait_idle(self, timeout: float) -> None:
        if not self._idle.wait(timeout):
            raise RigError("mic playback did not finish in time")

    # -- speaker recorder

    def _in_cb(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = time.monotonic()
        if status.input_overflow:
            self.overflows += 1
        adc = now + (time_info.inputBufferAdcTime - time_info.currentTime)
        with self._lock:
            self._in_callbacks += 1
            self._est.append((self._in_frames, adc))
            if self._recording:
                if self._rec_first_frame is None:
                    self._rec_first_frame = self._in_frames
                self._rec_chunks.append(indata[:, 0].copy())
            self._in_frames += frames
            self._last_adc_end = adc + frames / self.rate

    def start_recording(self) -> None:
        with self._lock:
            self._rec_chunks = []
            self._rec_first_frame = None
            self._recording = True

    def stop_recording(self) -> tuple[np.ndarray, int, float]:
        t_stop = time.monotonic()
        deadline = t_stop + 2.0
        # wait until audio that left the speaker up to t_stop has been captured
        while self._last_adc_end < t_stop and time.monotonic() < deadline:
            time.sleep(0.002)
        with self._lock:
            self._recording = False
            chunks = self._rec_chunks
            first = self._rec_first_frame
            self._rec_chunks = []
            ests = [(f, t) for f, t in self._est if first is not None and f >= first]
            if len(ests) < 5:
                ests = list(self._est)[-50:]
        if first is None or not chunks:
            raise RigError("speaker monitor delivered no audio")
        data = np.concatenate(chunks)
        # Each callback gives an estimate of when frame 0 of the stream was captured
        # (adc_time - frame_index / rate); the median over the recording is robust to jitter.
        t0 = statistics.median(t - f / self.rate for f, t in ests)
        return data, self.rate, t0 + first / self.rate
