"""Shared pieces of the fault tests: the real `vapi-bridge run` process against a simulator
of its own, the service manager's notify socket, recording checks, and a runner that plays
independent cases two or three at a time (each case is mostly waiting on real time).

Every case gets its own simulator (fault attempt counters are per simulator), its own
directory and its own control socket, so cases — and other test runs on the machine —
never share state.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import wave
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.sim import SimConfig, run_in_thread
from tests.conftest import WHOLE_MODULES
from tests.e2e.conftest import ROOT, bridge_cmd, bridge_env

KEY = "sim-private-key"
# what must never be on stderr, whatever happened: a crash, an orphan task, a leak
UNCLEAN = ("Traceback", "Task was destroyed", "Exception ignored", "ResourceWarning",
           "was never awaited")
WORKERS = 3
TRACEMALLOC_HINT = re.compile(r"^ResourceWarning: Enable tracemalloc.*\n", re.M)
WAV_HEADER = 44


# ---- the simulator ---------------------------------------------------------------------
class Sim:
    """A simulator in a thread of this process, with its test endpoints."""

    def __init__(self, **config: Any) -> None:
        config.setdefault("api_key", KEY)
        self.key: str = config["api_key"]
        self._handle = run_in_thread(SimConfig(host="127.0.0.1", port=0, **config))
        self.base_url: str = self._handle.base_url

    def get(self, path: str, *, auth: bool = False) -> Any:
        headers = {"User-Agent": "fault-tests"}
        if auth:
            headers["Authorization"] = f"Bearer {self.key}"
        request = urllib.request.Request(self.base_url + path, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())

    def calls(self) -> list[dict[str, Any]]:
        return [self.get(f"/_sim/calls/{c['id']}") for c in self.get("/_sim/calls")["calls"]]

    def call_objects(self) -> list[dict[str, Any]]:
        """`GET /call/{id}` of every call: what Vapi would tell the key's owner."""
        return [self.get(f"/call/{c['id']}", auth=True) for c in self.get("/_sim/calls")["calls"]]

    def stop(self) -> None:
        self._handle.stop()

    def __enter__(self) -> Sim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- profiles and directories ----------------------------------------------------------
def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@contextlib.contextmanager
def case_dir(prefix: str = "vbf-") -> Iterator[Path]:
    """A short directory (a control socket path must fit in 107 bytes), removed after."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_profile(directory: Path, base_url: str, name: str = "kiosk",
                  **sections: dict[str, Any]) -> Path:
    """A headless profile: null audio, a short call that says one line, a recording."""
    data: dict[str, Any] = {
        "api": {"base_url": base_url, "retry_attempts": 2, "retry_max_delay_seconds": 1,
                "timeout_seconds": 5},
        "assistant": {"id": "echo",
                      "overrides": {"firstMessage": "Hello.", "maxDurationSeconds": 3}},
        "audio": {"input": "null", "output": "null"},
        "record": {"path": str(directory / "rec-{call_id}")},
        "service": {"control_socket": str(directory / "ctl.sock"), "loop_delay_seconds": 0.2,
                    "max_backoff_seconds": 1},
    }
    data = merge(data, sections)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def env(**extra: str) -> dict[str, str]:
    return bridge_env(PYTHONWARNINGS="default::ResourceWarning", NO_COLOR="1", **extra)


# ---- the process -------------------------------------------------------------------------
@dataclass
class Result:
    code: int | None
    out: str
    err: str
    seconds: float

    @property
    def printed(self) -> str:
        return self.out + self.err

    @property
    def clean_err(self) -> str:
        """stderr without Python's tracemalloc hint line."""
        return TRACEMALLOC_HINT.sub("", self.err)

    def unclean(self) -> list[str]:
        """What is wrong with stderr: tracebacks, destroyed tasks, unclosed resources."""
        return [word for word in UNCLEAN if word in self.err]


def run_once(profile: Path, *args: str, timeout: float = 60, journal: bool = False,
             **extra_env: str) -> Result:
    """`vapi-bridge run`; `journal`: its stderr is a stream JOURNAL_STREAM names by device
    and inode, as systemd sets it up (the only case the bridge takes for the journal)."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as stream:
        if journal:
            st = os.fstat(stream.fileno())
            extra_env = {**extra_env, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        proc = subprocess.run(bridge_cmd("run", "--profile", str(profile), *args), cwd=ROOT,
                              env=env(**extra_env), stdout=subprocess.PIPE,
                              stderr=stream if journal else subprocess.PIPE, text=True,
                              timeout=timeout, check=False)
        stream.seek(0)
        err = stream.read() if journal else proc.stderr
    return Result(proc.returncode, proc.stdout, err, time.monotonic() - started)


def run_cli(*args: str, timeout: float = 30, **extra_env: str) -> Result:
    started = time.monotonic()
    proc = subprocess.run(bridge_cmd(*args), cwd=ROOT, env=env(**extra_env),
                          capture_output=True, text=True, timeout=timeout, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


class Notify:
    """The service manager's side of sd_notify: an AF_UNIX datagram socket."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._done = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.extend(data.decode(errors="replace").splitlines())

    def count(self, prefix: str) -> int:
        return sum(m.startswith(prefix) for m in list(self.messages))

    def wait_for(self, prefix: str, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count(prefix) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"no {count}x {prefix!r} within {timeout} s in {self.messages}")

    def close(self) -> None:
        self._done = True
        self._thread.join(2)
        self.sock.close()


class Daemon:
    """`vapi-bridge run` in the background: its stderr read as it comes, a notify socket."""

    def __init__(self, profile: Path, directory: Path, *args: str, **extra_env: str) -> None:
        self.notify = Notify(directory)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            bridge_cmd("run", "--profile", str(profile), *args), cwd=ROOT,
            env=env(NOTIFY_SOCKET=str(self.notify.path), **extra_env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._err: list[str] = []
        self._out: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(s, buf), daemon=True)
                         for s, buf in ((self.proc.stderr, self._err),
                                        (self.proc.stdout, self._out))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    @property
    def err(self) -> str:
        return "".join(self._err)

    @property
    def out(self) -> str:
        return "".join(self._out)

    def wait_err(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.err:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not on stderr within {timeout} s:\n{self.err}")

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float = 30) -> Result:
        """The exit, within `timeout` (else the process is killed and the test fails)."""
        try:
            code: int | None = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            code = None
        for reader in self._readers:
            reader.join(5)
        return Result(code, self.out, self.err, time.monotonic() - self.started)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> Result:
        if self.alive():
            self.send(sig)
        return self.wait(timeout)

    def close(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(5)
        self.notify.close()


# ---- checks --------------------------------------------------------------------------------
@dataclass
class Recording:
    wav: Path
    frames: int
    rate: int
    transcript: list[dict[str, Any]] = field(default_factory=list)
    ended: dict[str, Any] | None = None  # the JSONL's last line, once the call is over

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def check_recording(wav: Path, *, want_audio: bool = True) -> Recording:
    """The WAV opens, is 16-bit stereo, its header agrees with its size; the JSONL parses."""
    with wave.open(str(wav), "rb") as w:
        assert w.getnchannels() == 2, f"{wav.name}: {w.getnchannels()} channels"
        assert w.getsampwidth() == 2
        frames, rate = w.getnframes(), w.getframerate()
        data = w.readframes(frames)
    assert len(data) == frames * 4, f"{wav.name}: header says {frames} frames, data is short"
    assert wav.stat().st_size == WAV_HEADER + frames * 4, \
        f"{wav.name}: header ({frames} frames) disagrees with the file size {wav.stat().st_size}"
    if want_audio:
        assert frames > 0, f"{wav.name}: no audio recorded"
    jsonl = wav.with_suffix(".jsonl")
    assert jsonl.exists(), f"{jsonl.name} missing"
    lines = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    ends = [line["ended"] for line in lines if "ended" in line]
    kinds = ({"role", "text"}, {"turn", "heardGapMs"}, {"tool", "arguments", "id"},
             {"transfer", "to"})
    for line in lines:  # a transcript line, a turn's heard gap, a tool call, a transfer
        assert "ended" in line or ("t" in line and any(k <= set(line) for k in kinds)), line
    transcript = [line for line in lines if "text" in line]
    assert len(ends) <= 1 and (not ends or "ended" in lines[-1]), "one end line, the last"
    return Recording(wav, frames, rate, transcript, ends[0] if ends else None)


def recordings(directory: Path) -> list[Path]:
    return sorted(directory.glob("rec-*.wav"), key=lambda p: p.stat().st_mtime)


def one_line_error(result: Result, words: str) -> str:
    """The last line of stderr is the error, once, prefixed `vapi-bridge: `."""
    lines = result.clean_err.strip().splitlines()
    assert lines, "nothing on stderr"
    last = lines[-1]
    assert last.startswith("vapi-bridge: ") and words in last, result.err
    assert sum(line.startswith("vapi-bridge: ") for line in lines) == 1, result.err
    return last


def assert_clean(result: Result, *, verbose: bool = False) -> None:
    """No crash, orphan task or leak on stderr. With `-v` the CLI logs an error's traceback
    at debug level on purpose ("error detail"), so only the other signs count then."""
    unclean = [w for w in result.unclean() if not (verbose and w == "Traceback")]
    assert not unclean, f"unclean exit {unclean}:\n{result.err}"


# ---- running cases in parallel --------------------------------------------------------------
def selected_params(request: pytest.FixtureRequest, name: str) -> list[Any]:
    """The values of parameter `name` among the items of this module that will run (under
    xdist, all of them: tests/conftest.py sends a WHOLE_MODULES module to one worker)."""
    module = request.node.nodeid.split("::", 1)[0]
    assert module in WHOLE_MODULES, f"add {module} to tests/conftest.py's WHOLE_MODULES"
    found: list[Any] = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "module", None) is request.module and callspec is not None \
                and name in callspec.params and callspec.params[name] not in found:
            found.append(callspec.params[name])
    return found


@contextlib.contextmanager
def parallel(jobs: dict[str, Callable[[], Any]], workers: int = WORKERS
             ) -> Iterator[dict[str, Future[Any]]]:
    """Start every job now, a few at a time; yield their futures by name."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fault-case") as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        try:
            yield futures
        finally:
            for future in futures.values():
                future.cancel()

