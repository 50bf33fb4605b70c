"""Harness for `ctl` and `listen`: the simulator in a thread, the real daemon in a
subprocess (`python -m bridge run`) with its control socket in a short private directory,
and the real `vapi-bridge ctl` / `listen` commands as subprocesses."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (  # noqa: F401 - fixtures re-exported for this directory
    ROOT,
    ProfileBuilder,
    SimHandle,
    bridge_cmd,
    bridge_env,
    profiles,
    start_sim,
)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "it",
             interval: float = 0.1) -> Any:
    """Poll `predicate` (gently: each simulator report is serialized on its event loop,
    which also paces the call's audio)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def finals(record: dict[str, Any], role: str = "assistant") -> list[str]:
    """The final transcripts the simulator sent for `role`, in order."""
    out = []
    for item in record["eventsSent"]:
        ev = item["event"]
        if (ev.get("type") == "transcript" and ev.get("role") == role
                and ev.get("transcriptType") == "final"):
            out.append(ev["transcript"])
    return out


def received(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(source, message) of every command the simulator received."""
    return [(m["source"], m.get("message", {})) for m in record["messagesReceived"]]


@dataclass
class Daemon:
    proc: subprocess.Popen[str]
    socket: Path
    env: dict[str, str]
    out: str = ""
    err: str = ""
    extra: list[subprocess.Popen[str]] = field(default_factory=list)

    def ctl(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(bridge_cmd("ctl", "--socket", str(self.socket), *args),
                              capture_output=True, text=True, timeout=timeout, env=self.env,
                              cwd=ROOT)

    def ok(self, *args: str) -> str:
        result = self.ctl(*args)
        assert result.returncode == 0, f"ctl {' '.join(args)}: {result.stderr}"
        return result.stdout

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.out, self.err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short private directory (Unix socket paths are limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="vbctl-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def start_daemon(short_dir: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(profile: Path, *, wait: bool = True, name: str = "ctl.sock",
              **env: str) -> Daemon:
        sock = short_dir / name
        full_env = bridge_env(**env)
        proc = subprocess.Popen(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT,
                                env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        daemon = Daemon(proc, sock, full_env)
        started.append(daemon)
        if wait:
            def up() -> bool:
                if proc.poll() is not None:
                    _, err = proc.communicate()
                    raise AssertionError(f"the daemon exited with {proc.returncode}: {err}")
                return sock.exists()

            wait_for(up, 15, "the control socket")
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.communicate(timeout=10)


def control_profile(builder: ProfileBuilder, sim: SimHandle, sock: Path, *,
                    name: str = "kiosk", overrides: dict[str, Any] | None = None,
                    **sections: dict[str, Any]) -> Path:
    """A profile whose daemon waits in standby, with its control socket at `sock`."""
    service = {"mode": "standby", "control_socket": str(sock), **sections.pop("service", {})}
    assistant = {"id": "echo", "overrides": {"firstMessage": "", **(overrides or {})}}
    return builder.write(sim.base_url, name=name, service=service, assistant=assistant,
                          **sections)
