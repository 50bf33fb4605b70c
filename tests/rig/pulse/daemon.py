"""The rig's sound server: one private ``pulseaudio`` process and the helpers attached to it
(``pacat`` keep-alives), the private directories they use, and ``pactl`` against it.

Every process started here is ended by ``stop()``, by garbage collection if ``stop()`` never
ran, or by its parent-death signal if this process is killed; stale private directories of
a killed run are swept at the next start.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

_ALSA_CONF_CANDIDATES = ("/usr/share/alsa/alsa.conf", "/etc/alsa/alsa.conf")
_PULSE_PCM_PLUGIN_GLOBS = (
    "/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so",
    "/usr/lib/alsa-lib/libasound_module_pcm_pulse.so",
    "/usr/lib64/alsa-lib/libasound_module_pcm_pulse.so",
)
DEBIAN_PACKAGES = "libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins"


class RigError(RuntimeError):
    """The rig could not be started or operated; the message includes the daemon log tail."""


def alsa_conf() -> str | None:
    return next((p for p in _ALSA_CONF_CANDIDATES if os.path.exists(p)), None)


def available() -> tuple[bool, str]:
    """(True, "") when pulseaudio, pactl, pacat, the ALSA pulse plugin and libportaudio are
    present; otherwise (False, reason naming the Debian packages). Local runs may skip on
    False; CI installs the packages and must not skip."""
    missing = [exe for exe in ("pulseaudio", "pactl", "pacat") if shutil.which(exe) is None]
    if ctypes.util.find_library("portaudio") is None:
        missing.append("libportaudio2")
    if not any(glob.glob(g) for g in _PULSE_PCM_PLUGIN_GLOBS):
        missing.append("ALSA pulse plugin (libasound2-plugins)")
    if alsa_conf() is None:
        missing.append("alsa.conf (libasound2-data)")
    if missing:
        return False, (
            f"virtual audio rig unavailable, missing: {', '.join(missing)} "
            f"(apt-get install {DEBIAN_PACKAGES})"
        )
    return True, ""


def terminate(proc: subprocess.Popen[Any] | None, timeout: float = 3.0) -> None:
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
    """Last-resort cleanup (garbage collection / interpreter exit) if stop() never ran."""
    for p in reversed(procs):
        terminate(p, 1.0)
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


def sweep_stale_dirs() -> None:
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


class SoundServer:
    """The private pulseaudio, its helper processes and the private dirs they live in."""

    def __init__(self, start_timeout: float = 10.0) -> None:
        self.start_timeout = start_timeout
        self.env: dict[str, str] = {}  # what a client needs to reach this server
        self.log_path = Path()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.owned_dirs: list[Path] = []
        self._daemon: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None

    def make_dirs(self, tmpdir: Path | None) -> tuple[Path, Path]:
        """(base, run): ``tmpdir`` or a new temp dir for configs, the log and recordings;
        a short private dir under /tmp for the socket (unix socket paths are limited to
        107 bytes) and XDG_RUNTIME_DIR. Both are removed by stop() when made here."""
        sweep_stale_dirs()
        if tmpdir is None:
            base = Path(tempfile.mkdtemp(prefix="vbrig-"))
            self.owned_dirs.append(base)
            (base / "owner.pid").write_text(str(os.getpid()))
        else:
            base = tmpdir
            base.mkdir(parents=True, exist_ok=True)
        run = Path(tempfile.mkdtemp(prefix="vbrig-run-", dir="/tmp"))
        self.owned_dirs.append(run)
        (run / "owner.pid").write_text(str(os.getpid()))
        run.chmod(0o700)
        self._finalizer = weakref.finalize(self, _finalize, self.procs, self.owned_dirs)
        return base, run

    def start(self, cmd: list[str], env: dict[str, str], daemon_conf: Path,
              log_path: Path) -> None:
        """Start pulseaudio (``cmd``) and wait until it answers ``pactl info``."""
        self.env = env
        self.log_path = log_path
        daemon_env = dict(os.environ, **env, PULSE_CONFIG=str(daemon_conf))
        self._daemon = self.spawn(cmd, daemon_env, log_path.with_name("pulseaudio.stderr"))
        self._wait_ready()

    def spawn(
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
        self.procs.append(proc)
        return proc

    def log_tail(self, n: int = 15) -> str:
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
                    + self.log_tail()
                )
            r = subprocess.run(
                ["pactl", "info"], env=self.client_env(), capture_output=True, timeout=5
            )
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RigError("pulseaudio did not become ready:\n" + self.log_tail())
            time.sleep(0.02)

    def client_env(self) -> dict[str, str]:
        return dict(os.environ, **self.env)

    def pactl(self, *args: str) -> str:
        """Run pactl against the private server; returns stdout, raises RigError on failure."""
        r = subprocess.run(
            ["pactl", *args], env=self.client_env(), capture_output=True, text=True, timeout=10
        )
        if r.returncode != 0:
            raise RigError(f"pactl {' '.join(args)} failed: {r.stderr.strip()}")
        return r.stdout

    @property
    def pid(self) -> int | None:
        """PID of the private pulseaudio (None when stopped)."""
        d = self._daemon
        return d.pid if d is not None and d.poll() is None else None

    def cpu_seconds(self) -> float:
        """CPU time (user+system, seconds) the private pulseaudio has used so far."""
        if self.pid is None:
            return 0.0
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def stop(self) -> None:
        """End every process (helpers before the daemon) and remove the private dirs;
        idempotent."""
        for p in reversed(self.procs):
            terminate(p)
        self.procs.clear()
        self._daemon = None
        for d in self.owned_dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.owned_dirs.clear()
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
