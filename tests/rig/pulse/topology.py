"""The rig's topology: the sinks and sources inside the private PulseAudio, the ALSA devices
that name them, the configuration files that make them, and the optional echo path.

    harness ─► [sink vb_mic_in] ─monitor─► [remap source vb_mic] ─► ALSA "vb_mic" ─► program
    program ─► ALSA "vb_speaker" ─► [sink vb_speaker] ─monitor─► harness recorder
                                      └─(optional module-loopback: acoustic echo)─► vb_mic_in
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .daemon import RigError, SoundServer, alsa_conf

SUPPORTED_RATES = (16000, 44100, 48000)

# PortAudio (ALSA host API) device names the program under test uses.
SPEAKER_DEVICE = "vb_speaker"
MIC_DEVICE = "vb_mic"
# PulseAudio object names.
SPEAKER_SINK = "vb_speaker"  # null sink the program plays into
MIC_SINK = "vb_mic_in"  # null sink the harness plays "mic" audio into
MIC_SOURCE = "vb_mic"  # remap source on vb_mic_in.monitor: the virtual microphone
# Harness-only ALSA devices (visible in-process after activate_in_process(), not in rig.env).
HARNESS_MIC_IN = "rig_mic_in"
HARNESS_SPEAKER_MONITOR = "rig_speaker_monitor"
HARNESS_MIC_MONITOR = "rig_mic_monitor"  # what reaches the microphone: clips and echo paths
LOOPBACK_MIN_MS = 20


@dataclass(frozen=True)
class Config:
    env: dict[str, str]  # what the program under test gets (rig.env)
    harness_env: dict[str, str]  # the same, plus the harness-only ALSA devices
    script: Path  # rig.pa: the modules making the topology
    daemon_conf: Path
    log_path: Path


def write_config(base: Path, run: Path, rate: int) -> Config:
    """Write the daemon's, the clients' and ALSA's configuration under ``base``; the socket
    is ``run``/native. Nothing of the machine's own audio configuration is read or written
    but the system alsa.conf."""
    home = base / "home"
    cfg = home / ".config"
    pulse_dir = base / "pulse"
    alsa_dir = base / "alsa"
    for d in (home, cfg / "pulse", pulse_dir, alsa_dir):
        d.mkdir(parents=True, exist_ok=True)
    socket = run / "native"
    server = f"unix:{socket}"

    script = pulse_dir / "rig.pa"
    script.write_text(
        f"load-module module-native-protocol-unix auth-anonymous=1 socket={socket}\n"
        f"load-module module-null-sink sink_name={SPEAKER_SINK} rate={rate} channels=1 "
        f"format=s16le channel_map=mono sink_properties=device.description=vb-speaker\n"
        f"load-module module-null-sink sink_name={MIC_SINK} rate={rate} channels=1 "
        f"format=s16le channel_map=mono sink_properties=device.description=vb-mic-in\n"
        f"load-module module-remap-source source_name={MIC_SOURCE} master={MIC_SINK}.monitor "
        f"channels=1 channel_map=mono master_channel_map=mono remix=no "
        f"source_properties=device.description=vb-mic\n"
        f"set-default-sink {SPEAKER_SINK}\n"
        f"set-default-source {MIC_SOURCE}\n"
    )
    daemon_conf = pulse_dir / "daemon.conf"
    daemon_conf.write_text(
        f"default-sample-rate = {rate}\n"
        f"alternate-sample-rate = {rate}\n"
        "default-sample-format = s16le\n"
        "default-sample-channels = 1\n"
        "resample-method = soxr-mq\n"
        "flat-volumes = no\n"
        "enable-memfd = no\n"
    )
    client_conf = pulse_dir / "client.conf"
    client_conf.write_text(f"default-server = {server}\nautospawn = no\nenable-memfd = no\n")
    (cfg / "pulse" / "client.conf").write_text(client_conf.read_text())

    system_alsa = alsa_conf()
    assert system_alsa is not None
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
        f"pcm.{HARNESS_MIC_IN} {{ type asym; playback.pcm {{ type pulse; "
        f'server "{server}"; device "{MIC_SINK}" }} }}\n'
        f"pcm.{HARNESS_SPEAKER_MONITOR} {{ type asym; capture.pcm {{ type pulse; "
        f'server "{server}"; device "{SPEAKER_SINK}.monitor" }} }}\n'
        f"pcm.{HARNESS_MIC_MONITOR} {{ type asym; capture.pcm {{ type pulse; "
        f'server "{server}"; device "{MIC_SINK}.monitor" }} }}\n'
    )
    env = {
        "PULSE_SERVER": server,
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(run),
        "XDG_CONFIG_HOME": str(cfg),
        "PULSE_CLIENTCONFIG": str(client_conf),
        "ALSA_CONFIG_PATH": f"{system_alsa}:{devices_conf}",
    }
    harness_env = dict(env, ALSA_CONFIG_PATH=f"{system_alsa}:{devices_conf}:{harness_conf}")
    return Config(env, harness_env, script, daemon_conf, pulse_dir / "pulseaudio.log")


def daemon_cmd(config: Config) -> list[str]:
    return [
        "pulseaudio",
        "-n",
        "-F",
        str(config.script),
        "--daemonize=no",
        "--exit-idle-time=-1",
        # the sound server's I/O threads real-time, its main thread at nice -11, as the
        # machine's own PulseAudio or PipeWire runs them (through rtkit): the devices then
        # keep time while the tests around them load the 2 cores; unprivileged, it falls
        # back to normal priority with a line in its log
        "--realtime=yes",
        "--high-priority=yes",
        "--use-pid-file=no",
        "--disallow-exit=yes",
        f"--log-target=file:{config.log_path}",
    ]


def start_keepalives(server: SoundServer, rate: int) -> list[subprocess.Popen[bytes]]:
    """One silent ``pacat`` per sink, so neither null sink ever idles."""
    return [
        server.spawn(
            [
                "pacat",
                "--playback",
                f"--device={sink}",
                "--latency-msec=10",
                "--raw",
                "--format=s16le",
                f"--rate={rate}",
                "--channels=1",
                "--client-name=vbrig-keepalive",
                f"--stream-name=keepalive-{sink}",
            ],
            server.client_env(),
            server.log_path.with_name(f"keepalive-{sink}.stderr"),
            stdin_zero=True,
        )
        for sink in (SPEAKER_SINK, MIC_SINK)
    ]


def _sink_info(server: SoundServer) -> dict[str, dict]:
    return {str(si["name"]): si for si in json.loads(server.pactl("-f", "json", "list", "sinks"))}


def settle_sinks(server: SoundServer, keepalives: list[subprocess.Popen[bytes]]
                 ) -> dict[str, float]:
    """Wait for both sinks to run with the keep-alives attached, then drop their backlog;
    returns each sink's latency (ms).

    A null sink loaded with no client renders ~2 s ahead of real time (its idle block);
    when the first client attaches, that backlog drains in real time, so for up to 2 s
    everything played into the sink comes out late (the "idle null sinks sleep" pitfall).
    Suspending and resuming the sink resets its clock; afterwards its latency is ~1-3 ms.
    """
    deadline = time.monotonic() + server.start_timeout
    while True:
        for k in keepalives:
            if k.poll() is not None:
                raise RigError(f"keep-alive pacat exited with {k.returncode}")
        info = _sink_info(server)
        if all(info.get(s, {}).get("state") == "RUNNING" for s in (SPEAKER_SINK, MIC_SINK)):
            break
        if time.monotonic() > deadline:
            raise RigError(f"sinks not running: {info}\n" + server.log_tail())
        time.sleep(0.02)
    for _attempt in range(5):
        for s in (SPEAKER_SINK, MIC_SINK):
            server.pactl("suspend-sink", s, "1")
            server.pactl("suspend-sink", s, "0")
        time.sleep(0.03)
        info = _sink_info(server)
        lat = {s: float(info[s]["latency"]["actual"]) / 1000 for s in (SPEAKER_SINK, MIC_SINK)}
        states = {s: info[s]["state"] for s in (SPEAKER_SINK, MIC_SINK)}
        if all(v < 20 for v in lat.values()) and all(v == "RUNNING" for v in states.values()):
            return lat
    raise RigError(f"sink latency did not settle: {lat} {states}\n" + server.log_tail())


class Loopback:
    """A module-loopback from the speaker monitor into the mic sink (an acoustic echo path)."""

    def __init__(self, server: SoundServer, module: int, sink_input: int, gain_db: float,
                 delay_ms: float) -> None:
        self._server = server
        self.module = module
        self.sink_input = sink_input
        self.gain_db = gain_db
        self.delay_ms = delay_ms
        self.removed = False

    def remove(self) -> None:
        if not self.removed:
            self.removed = True
            with contextlib.suppress(RigError):
                self._server.pactl("unload-module", str(self.module))

    def __enter__(self) -> Loopback:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def load_echo_path(server: SoundServer, gain_db: float, delay_ms: float) -> Loopback:
    """The speaker's monitor routed into the mic sink; see PulseRig.loop_speaker_into_mic."""
    latency = max(LOOPBACK_MIN_MS, round(delay_ms))
    module = int(
        server.pactl(
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
        for si in json.loads(server.pactl("-f", "json", "list", "sink-inputs") or "[]"):
            if str(si.get("owner_module")) == str(module):
                sink_input = int(si["index"])
        if sink_input is None:
            if time.monotonic() > deadline:
                server.pactl("unload-module", str(module))
                raise RigError("module-loopback sink input did not appear")
            time.sleep(0.02)
    server.pactl("set-sink-input-volume", str(sink_input), f"{gain_db:.2f}dB")
    return Loopback(server, module, sink_input, gain_db, float(latency))
