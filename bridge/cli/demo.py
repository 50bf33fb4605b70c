"""`vapi-bridge demo`: a whole call with no account, against the built-in simulator.

The simulator runs in-process on a free loopback port with the echo assistant. With a
usable microphone and speaker the visitor talks to it (Ctrl-C ends); without them, or with
`--headless`, a spoken WAV goes into the call after the greeting, the assistant's audio is
written to a WAV, and the demo ends by itself once the echo has been heard.

Each demo's control socket is its own, demo-PID.sock (the log names it; `vapi-bridge ctl`
with no --profile finds it), so demos run side by side, and beside `vapi-bridge run
--profile config/demo.yaml`, which keeps demo.sock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from bridge.audio.base import AudioSink, AudioSource
from bridge.audio.files import ClockedSink, WavSource
from bridge.call.destination import unwritable
from bridge.cli.transcript import TerminalView
from bridge.control.paths import default_dirs
from bridge.control.server import serve_control
from bridge.errors import UsageError
from bridge.profile import Profile, parse_profile
from bridge.service.daemon import Daemon
from bridge.vapi import messages

log = logging.getLogger("bridge.demo")

VISITOR_LINE = "Hello. I have an appointment at two o'clock with Doctor Lee."


def _asset(name: str) -> Path:
    return Path(str(resources.files("bridge") / "assets" / name))


def visitor_speech(workdir: Path) -> Path:
    """Speech for the headless visitor: espeak-ng when installed, else the bundled WAV."""
    espeak = shutil.which("espeak-ng")
    if espeak:
        out = workdir / "visitor.wav"
        result = subprocess.run([espeak, "-s", "150", "-w", str(out), VISITOR_LINE],
                                capture_output=True, check=False, timeout=30)
        if result.returncode == 0 and out.stat().st_size > 1000:
            return out
    return _asset("visitor.wav")


def devices_usable() -> bool:
    try:
        from bridge.audio.device_lookup import find_device

        find_device("default", "input")
        find_device("default", "output")
    except Exception:  # AudioDeviceError, or PortAudio failing in its own way
        return False
    return True


def demo_profile(base_url: str, wire: str) -> Profile:
    rate = "16000" if wire == "pcm_s16le" else "8000"
    own = default_dirs()[0] / f"demo-{os.getpid()}.sock"  # not demo.sock: see above
    return parse_profile(_asset("demo.yaml").read_text(), origin=str(_asset("demo.yaml")),
                         overrides=[f"api.base_url={base_url}", f"wire.format={wire}",
                                    f"wire.sample_rate={rate}",
                                    f"service.control_socket={own}"])


class HeadlessVisitor:
    """Speaks after the greeting, and stops the call once the echo has been heard."""

    def __init__(self, source: WavSource, stop: asyncio.Event) -> None:
        self.source = source
        self.stop = stop
        self._spoken = False

    def __call__(self, event: messages.Event) -> None:
        if not (isinstance(event, messages.SpeechUpdate) and event.role == "assistant"
                and event.status == "stopped"):
            return
        if not self._spoken:
            self._speak()
        elif self.source.finished:
            asyncio.get_running_loop().call_later(0.5, self.stop.set)

    def _speak(self) -> None:
        if self._spoken:
            return
        self._spoken = True
        log.info("the visitor speaks (%.1f s of audio)", self.source.duration_s)
        self.source.play()
        asyncio.get_running_loop().call_later(self.source.duration_s + 15, self.stop.set)

    def start_fallback(self) -> None:
        """Speak anyway if no greeting ends within 10 s."""
        asyncio.get_running_loop().call_later(10, self._speak)


async def run_demo(*, headless: bool, out: str, wire: str) -> int:
    try:
        from bridge.sim import SimConfig, Simulator
    except ImportError as exc:
        from bridge.extras import missing_extra

        raise UsageError(missing_extra("sim", "the demo", exc.name)) from None
    key = "demo-" + secrets.token_hex(8)
    cfg = SimConfig(host="127.0.0.1", port=0, assistant="echo", api_key=key)
    use_devices = not headless and devices_usable()
    if not use_devices:  # only the headless demo writes it
        _check_out(Path(out))
    if not headless and not use_devices:
        log.info("no usable microphone and speaker: running headless (a WAV speaks for the "
                 "visitor)")
    if logging.getLogger().level > logging.DEBUG:  # the client's lines tell the story
        logging.getLogger("bridge.sim").setLevel(logging.WARNING)
    async with Simulator(cfg) as sim:
        log.info("simulator with the echo assistant on %s", sim.base_url)
        profile = demo_profile(sim.base_url, wire)
        with _env("VAPI_API_KEY", key):
            if use_devices:
                print("Speak after the greeting; the assistant repeats what you say. "
                      "Ctrl-C ends the call.", flush=True)
                return await Daemon(profile, view=TerminalView(), control=serve_control).run()
            with tempfile.TemporaryDirectory(prefix="vapi-bridge-demo-") as tmp:
                return await _headless(profile, Path(tmp), Path(out))


def _check_out(out: Path) -> None:
    """A `--out` the headless demo could not write is a usage error now, not an output
    failure after the call."""
    problem = f"{out} is a directory" if out.is_dir() else unwritable(out.parent)
    if problem:
        raise UsageError(f"--out {out}: {problem} — give a file in a writable directory, "
                         f"e.g. --out /tmp/demo-reply.wav")


async def _headless(profile: Profile, workdir: Path, out: Path) -> int:
    rate = profile.wire.sample_rate
    out.parent.mkdir(parents=True, exist_ok=True)  # out/ by default (checked writable)
    source = WavSource(visitor_speech(workdir), rate, paused=True)
    sink: AudioSink = ClockedSink(rate, out, playout=profile.audio.playout)
    stop = asyncio.Event()
    visitor = HeadlessVisitor(source, stop)
    visitor.start_fallback()
    audio: tuple[AudioSource, AudioSink] = (source, sink)
    code = await Daemon(profile, hooks=[visitor], view=TerminalView(), control=serve_control,
                        stop=stop, audio=audio).run()
    print(f"the assistant's audio was written to {out}", flush=True)
    return code


@contextlib.contextmanager
def _env(name: str, value: str):  # type: ignore[no-untyped-def]
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old
