"""Real PortAudio devices: a private PulseAudio (tests/rig) per test module, the simulator in
a thread, and `vapi-bridge run` as a child process pointed at the rig's virtual devices.

`rig` is module-scoped; a module picks its rates with
`@pytest.mark.parametrize("rig", [16000, 48000], indirect=True)` (default 48000), and pytest
groups the tests so each rate's rig starts once. Where PulseAudio is absent the tests skip
with the reason, unless `CI` is set: CI installs the packages, so there it is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import KEY, SimHandle, environ
from tests.rig.pulse import PulseRig

ROOT = Path(__file__).resolve().parents[2]


def require(ok: bool, reason: str) -> None:
    """Skip locally, fail under CI (which installs everything these tests need)."""
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} — CI must install it, not skip", pytrace=False)
    pytest.skip(reason)


def require_rig() -> None:
    require(*PulseRig.available())


def require_espeak() -> None:
    require(shutil.which("espeak-ng") is not None,
            "espeak-ng not found (apt-get install espeak-ng)")


# The audio processes of a test (pulseaudio, the harness's callbacks, the bridge, the
# simulator) run at this niceness where that is permitted (root or CAP_SYS_NICE), so that
# unrelated CPU load on the machine (other test runs) cannot starve their 40 ms buffers.
# The assertions do not change; a kiosk does not run CPU hogs beside its audio. Where it is
# not permitted (CI runners), nothing else runs there anyway.
BOOST_NICE = -10


def _set_nice(tid: int, nice: int) -> bool:
    try:
        os.setpriority(os.PRIO_PROCESS, tid, nice)
    except (PermissionError, ProcessLookupError):
        return False
    return True


def boost_process(pid: int) -> None:
    """Every thread of a process this test started (pulseaudio) to BOOST_NICE."""
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            _set_nice(int(tid), BOOST_NICE)


def boost_child() -> None:
    """preexec_fn: the child and every thread it starts run at BOOST_NICE."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, BOOST_NICE)


@contextlib.contextmanager
def boosted_rig(rate: int, tmpdir: Path) -> Iterator[PulseRig]:
    require_rig()
    # the harness's PortAudio threads are started from this (the main) thread later, and
    # inherit its niceness
    tid = threading.get_native_id()
    before = os.getpriority(os.PRIO_PROCESS, tid)
    boosted = _set_nice(tid, BOOST_NICE)
    try:
        with PulseRig(rate=rate, tmpdir=tmpdir) as r:
            if r.pid is not None:
                boost_process(r.pid)
            yield r
    finally:
        if boosted:
            _set_nice(tid, before)


@pytest.fixture(scope="module")
def rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[PulseRig]:
    rate = getattr(request, "param", 48000)
    with boosted_rig(rate, tmp_path_factory.mktemp(f"rig{rate}")) as r:
        yield r


@pytest.fixture
def fresh_rig(tmp_path: Path) -> Iterator[PulseRig]:
    """A rig of its own, for a test that breaks it."""
    with boosted_rig(48000, tmp_path / "rig") as r:
        yield r


class SimProcess(SimHandle):
    """The simulator in a process of its own: in this one it would share the GIL with the
    harness's audio callbacks (which then underflow under load)."""

    def __init__(self, proc: subprocess.Popen[str], base_url: str) -> None:
        super().__init__(base_url, self._stop)
        self.proc = proc

    def _stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def launch_sim(workdir: Path, assistant: str = "echo", *args: str) -> SimProcess:
    """`vapi-bridge sim --port 0 …`, once it listens; stop it with `.stop()`."""
    out = workdir / f"sim-{time.monotonic_ns()}.out"
    with open(out, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "bridge.sim", "--port", "0",
                                 "--assistant", assistant, "--api-key", KEY, *args],
                                stdout=f, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                                preexec_fn=boost_child)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        m = re.search(r"listening on (http://\S+)", out.read_text())
        if m:
            return SimProcess(proc, m[1])
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"the simulator did not start:\n{out.read_text()[-2000:]}")


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[Callable[..., SimHandle]]:
    handles: list[SimProcess] = []

    def start(assistant: str = "echo", *args: str) -> SimHandle:
        handle = launch_sim(tmp_path, assistant, *args)
        handles.append(handle)
        return handle

    yield start
    for h in handles:
        h.stop()


def write_profile(path: Path, base_url: str, **sections: dict[str, Any]) -> Path:
    data: dict[str, Any] = {
        "api": {"base_url": base_url, "retry_max_delay_seconds": 1},
        "assistant": {"id": "echo", "overrides": {"firstMessage": ""}},
        "audio": {"input": "vb_mic", "output": "vb_speaker"},
        # the kiosk's own sounds off (tests/rig/test_sounds_rig.py hears them)
        "sounds": dict.fromkeys(("triggered", "connecting", "offline")),
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def rig_env(rig: PulseRig, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in environ().items() if not k.startswith(("VAPI_", "PULSE_"))}
    env.update(rig.env)  # its XDG_RUNTIME_DIR, TMPDIR too: a kiosk's own daemon is not ours
    env.update({"VAPI_API_KEY": KEY, "PYTHONUNBUFFERED": "1",
                "TMPDIR": rig.env.get("XDG_RUNTIME_DIR", tempfile.gettempdir())})
    env.update(extra)
    return env


def bridge(*args: str) -> list[str]:
    return [sys.executable, "-m", "bridge", *args]


def run_bridge(rig: PulseRig, *args: str, timeout: float = 60,
               **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(bridge(*args), capture_output=True, text=True, timeout=timeout,
                          env=rig_env(rig, **env), cwd=ROOT, preexec_fn=boost_child)


@dataclass
class BridgeProcess:
    """`vapi-bridge run` in the background; `finish()` collects its output."""

    proc: subprocess.Popen[str]
    out: str = ""
    err: str = ""
    lines: list[str] = field(default_factory=list)

    def finish(self, timeout: float = 40) -> int:
        try:
            self.out, self.err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.out, self.err = self.proc.communicate()
            pytest.fail(f"vapi-bridge did not end within {timeout} s:\n{self.err[-3000:]}")
        return self.proc.returncode

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@contextlib.contextmanager
def running_bridge(rig: PulseRig, profile: Path) -> Iterator[BridgeProcess]:
    proc = subprocess.Popen(bridge("run", "--profile", str(profile)), env=rig_env(rig),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=boost_child)
    handle = BridgeProcess(proc)
    try:
        yield handle
    finally:
        handle.kill()


def wait_streaming(sim: SimHandle, bp: BridgeProcess, frames: int = 25,
                   timeout: float = 20) -> dict[str, Any]:
    """Wait until the simulator has received `frames` uplink frames of the (only) call."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bp.proc.poll() is not None:
            bp.finish()
            pytest.fail(f"vapi-bridge exited with {bp.proc.returncode}:\n{bp.err[-3000:]}")
        calls = sim.calls()
        if calls and calls[0]["uplink"]["frames"] >= frames:
            return calls[0]
        time.sleep(0.05)
    pytest.fail("the call never started streaming")


SUMMARY = re.compile(
    r"call [\w-]+ ended: (?P<reason>.+?) after [\d.]+ s.*?(?P<audible>\d+) audible underruns? "
    r"\((?P<underruns>\d+) in all\), dropped (?P<speech_dropped>\d+) ms of speech and "
    r"(?P<silence_dropped>\d+) ms of silence.*?; devices: (?P<overflows>\d+) input overflows?, "
    r"(?P<underflows>\d+) output underflows?, (?:no reopens|(?P<attempts>\d+) reopen "
    r"attempts? \((?P<reopens>\d+) succeeded\))")


def summary_of(stdout: str) -> dict[str, Any]:
    """The end-of-call summary line's figures."""
    for line in stdout.splitlines():
        m = SUMMARY.search(line)
        if m:
            d: dict[str, Any] = {k: int(v or 0) for k, v in m.groupdict().items()
                                 if k != "reason"}
            d["reason"] = m["reason"]
            d["line"] = line
            return d
    raise AssertionError(f"no summary line with device counters in:\n{stdout}")


def list_devices_json(rig: PulseRig) -> list[dict[str, Any]]:
    result = run_bridge(rig, "devices", "--json")
    assert result.returncode == 0, result.stderr
    devices: list[dict[str, Any]] = json.loads(result.stdout)
    return devices


def streams_of(rig: PulseRig, pid: int) -> dict[str, int]:
    """How many playback and capture streams the sound server holds for process `pid`."""
    mine = re.compile(rf'application\.process\.id = "{pid}"')
    return {kind: len(mine.findall(rig.pactl("list", kind)))
            for kind in ("sink-inputs", "source-outputs")}
