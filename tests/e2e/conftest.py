"""End-to-end harness: the real simulator on loopback, the real `vapi-bridge` process."""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from bridge.sim import SimConfig, run_in_thread
from tests.rig.signals import write_wav

ROOT = Path(__file__).resolve().parents[2]
KEY = "sim-private-key"
# OpenSSL's code for a TLS handshake answered in plain text: RECORD_LAYER_FAILURE from 3.2
PLAIN_TLS = ("WRONG_VERSION_NUMBER" if ssl.OPENSSL_VERSION_INFO < (3, 2)
             else "RECORD_LAYER_FAILURE")


@dataclass
class SimHandle:
    base_url: str
    stop: Callable[[], None]

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base_url + path, timeout=10) as resp:
            return json.loads(resp.read())

    def get_bytes(self, path: str) -> bytes:
        with urllib.request.urlopen(self.base_url + path, timeout=10) as resp:
            return bytes(resp.read())

    def calls(self) -> list[dict[str, Any]]:
        listing = self.get("/_sim/calls")
        ids = listing["calls"] if isinstance(listing, dict) else listing
        ids = [c["id"] if isinstance(c, dict) else c for c in ids]
        return [self.get(f"/_sim/calls/{cid}") for cid in ids]

    def wait_streaming(self, frames: int, timeout: float = 15.0) -> None:
        """Until the first call's uplink has carried `frames` frames."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls = self.calls()
            if calls and calls[0]["uplink"]["frames"] >= frames:
                return
            time.sleep(0.05)
        raise AssertionError(f"the call never streamed {frames} frames")

    def only_call(self) -> dict[str, Any]:
        calls = self.calls()
        assert len(calls) == 1, f"expected one call, the simulator saw {len(calls)}"
        return calls[0]


@pytest.fixture
def start_sim() -> Iterator[Callable[..., SimHandle]]:
    handles: list[Any] = []

    def start(**kwargs: Any) -> SimHandle:
        cfg = SimConfig(host="127.0.0.1", port=0, api_key=KEY, **kwargs)
        handle = run_in_thread(cfg)
        handles.append(handle)
        return SimHandle(handle.base_url, handle.stop)

    yield start
    for h in handles:
        h.stop()


@dataclass
class ProfileBuilder:
    directory: Path
    base: dict[str, Any] = field(default_factory=dict)

    def write(self, base_url: str, name: str = "kiosk", **sections: dict[str, Any]) -> Path:
        data: dict[str, Any] = {
            "api": {"base_url": base_url, "retry_max_delay_seconds": 1},
            "assistant": {"id": "echo", "overrides": {"firstMessage": ""}},
            "audio": {"input": "null", "output": "null"},
            # the kiosk's own sounds off: on a speaker they would precede the assistant in
            # every recording (tests/rig/test_sounds_rig.py hears them)
            "sounds": dict.fromkeys(("triggered", "connecting", "offline")),
        }
        for section, values in sections.items():
            data.setdefault(section, {}).update(values)
        path = self.directory / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path


@pytest.fixture
def profiles(tmp_path: Path) -> ProfileBuilder:
    return ProfileBuilder(tmp_path)


@functools.cache
def _runtime_dirs() -> str:
    """One directory per test process for the bridges' runtime dirs, removed as it exits
    (one each, thousands in a run, were left in /tmp)."""
    root = tempfile.mkdtemp(prefix="vb-runs-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def runtime_dir() -> str:
    return tempfile.mkdtemp(prefix="r-", dir=_runtime_dirs())


def environ() -> dict[str, str]:
    """A copy of os.environ that a thread can take: the fault matrix builds its processes'
    environments in threads while pytest's own thread sets and deletes PYTEST_CURRENT_TEST,
    and a key deleted between the copy's listing and its read raised KeyError (a CI
    rehearsal's once-mode case failed so, and its rerun met the same failed future)."""
    for _ in range(50):
        try:
            return dict(os.environ)
        except KeyError:
            continue
    return dict(os.environ)


def bridge_env(**extra: str) -> dict[str, str]:
    """The environment of a bridge process: the simulator's key, a runtime dir of its own
    so control sockets of runs in parallel never meet, and this test process's state
    directory (what a daemon keeps across restarts stays out of the user's home) unless
    the test names one."""
    env = {k: v for k, v in environ().items() if not k.startswith(("VAPI_", "PULSE_"))}
    run = runtime_dir()  # TMPDIR too: a kiosk's own daemon (`run -p kiosk` in a shell,
    # its socket in /tmp/vapi-bridge-UID) is not taken for one of these tests' profiles
    env.update({"VAPI_API_KEY": KEY, "PYTHONUNBUFFERED": "1", "XDG_RUNTIME_DIR": run,
                "TMPDIR": run})
    if "XDG_STATE_HOME" not in env:
        env["XDG_STATE_HOME"] = os.path.join(_runtime_dirs(), "state")
    env.update(extra)
    return env


class StderrLines:
    """A running process's stderr, line by line as it comes (a thread reads it), for a test
    that waits on a line while the process goes on."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        self.lines: list[str] = []
        stream = proc.stderr
        self._thread = threading.Thread(
            target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True)
        self._thread.start()

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def join(self, timeout: float = 10) -> str:
        """All of it, once the process has closed its stderr."""
        self._thread.join(timeout)
        return "".join(self.lines)


def bridge_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "bridge", *args]


def run_bridge(*args: str, timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(bridge_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env=bridge_env(**env), cwd=ROOT)


def visitor_wav(path: Path, bursts: int) -> None:
    """`bursts` seconds of voice-like sound, each followed by 3 s of quiet."""
    t = np.arange(16000) / 16000
    voice = (0.25 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    quiet = np.zeros(3 * 16000, dtype=np.int16)
    write_wav(path, np.concatenate([np.zeros(16000 // 2, np.int16),
                                    *([voice, quiet] * bursts)]), 16000)
