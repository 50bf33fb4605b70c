"""Harness for the kiosk's HTTP server: the simulator in a thread, the real daemon
(`python -m bridge run`, standby, null audio) serving `http.listen` on a free loopback
port, and Debian's chromium driven by Playwright (one browser per module)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.control.conftest import wait_for
from tests.e2e.conftest import (  # noqa: F401 - fixtures re-exported for this directory
    ROOT,
    ProfileBuilder,
    SimHandle,
    bridge_cmd,
    bridge_env,
    profiles,
    start_sim,
)
from tests.network.relay import Relay

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
CSRF = {"Content-Type": "application/json", "X-Vapi-Bridge": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WebDaemon:
    proc: subprocess.Popen[str]
    base: str
    out: str = ""
    err: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.base + path, timeout=10, headers=self.headers | kwargs.pop(
            "headers", {}), **kwargs)

    def post(self, path: str, headers: dict[str, str] | None = None,
             **kwargs: Any) -> httpx.Response:
        return httpx.post(self.base + path, timeout=30, content=kwargs.pop("content", "{}"),
                          headers=self.headers | (CSRF if headers is None else headers),
                          **kwargs)

    def stop_and_logs(self) -> str:
        self.stop()
        return self.out + self.err

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.out, self.err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode


def web_profile(builder: ProfileBuilder, sim: SimHandle, port: int, *,
                first: str = "", name: str = "kiosk", **sections: dict[str, Any]) -> Path:
    """A standby daemon's profile serving http.listen on 127.0.0.1:`port`."""
    http = {"listen": f"127.0.0.1:{port}", **sections.pop("http", {})}
    overrides = {"firstMessage": first, **sections.pop("overrides", {})}
    return builder.write(sim.base_url, name=name, service={"mode": "standby"},
                         assistant={"id": "echo", "overrides": overrides}, http=http,
                         **sections)


@pytest.fixture
def start_web() -> Iterator[Callable[..., WebDaemon]]:
    started: list[WebDaemon] = []

    def start(profile: Path, port: int, *, headers: dict[str, str] | None = None,
              host: str = "127.0.0.1", **env: str) -> WebDaemon:
        proc = subprocess.Popen(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT,
                                env=bridge_env(**env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        daemon = WebDaemon(proc, f"http://{host}:{port}", headers=headers or {})
        started.append(daemon)

        seen: list[str] = ["nothing"]

        def up() -> bool:
            if proc.poll() is not None:
                _, err = proc.communicate()
                raise AssertionError(f"the daemon exited with {proc.returncode}: {err}")
            try:
                answer = daemon.get("/state")
                seen[0] = f"{answer.status_code} {answer.text[:200]}"
                return str(answer.json().get("state")).startswith("waiting for trigger")
            except (httpx.HTTPError, ValueError) as exc:
                seen[0] = repr(exc)
                return False

        try:
            wait_for(up, 60, "the daemon's HTTP server in standby")
        except AssertionError as exc:
            raise AssertionError(f"{exc} (last: {seen[0]})") from None
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.communicate(timeout=10)


class EventTap:
    """`/events` read in a thread, as `curl -N` would: every line, for later checks."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, headers or {}),
                                        daemon=True)
        self._thread.start()

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            with httpx.stream("GET", url, headers=headers, timeout=30) as resp:
                for line in resp.iter_lines():
                    self.lines.append(line)
                    if self._stop.is_set():
                        return
        except httpx.HTTPError:
            pass

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def close(self) -> None:
        self._stop.set()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright (never `playwright install`)."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make deps` installs Debian's chromium")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # bounds, not speeds: a loaded machine is slow

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class StreamCutter(Relay):
    """A TCP relay in front of the daemon (`port`) whose `cut()` drops every connection
    through it, as a proxy or a flaky link does to a page's event stream."""

    def cut(self) -> None:
        for s in self._open:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self._open = []

    def close(self) -> None:
        self.cut()
        super().close()
