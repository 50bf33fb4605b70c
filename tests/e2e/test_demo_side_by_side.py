"""Two `vapi-bridge demo` at once, or a demo while `run -p config/demo.yaml` runs: each
demo's daemon has a control socket of its own, so neither is refused as "another daemon
is already running" — the real commands, one runtime directory between them."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.control.conftest import wait_for
from tests.e2e.conftest import ROOT, bridge_cmd, bridge_env


def _demo(env: dict[str, str], out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(bridge_cmd("demo", "--headless", "--out", str(out)), cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _socket_of(proc: subprocess.Popen[str]) -> str:
    """The control socket the process's log names (read up to that line)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if "control socket: " in line:
            return line.split("control socket: ", 1)[1].strip()
    raise AssertionError(f"no control socket line; exit {proc.wait()}")


def test_two_demos_side_by_side_and_beside_run_with_the_demo_profile(
        start_sim, tmp_path: Path) -> None:
    """The run's daemon (demo.sock), a demo beside it, and a second demo beside both: one
    test, one run of each demo fewer than two tests (a demo is a ~10 s real-time call)."""
    sim = start_sim(assistant="echo")
    env = bridge_env()
    daemon = subprocess.Popen(bridge_cmd(
        "run", "-p", "config/demo.yaml", "--set", f"api.base_url={sim.base_url}",
        "--set", "audio.input=null", "--set", "audio.output=null",
        "--set", "service.mode=standby"), cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        run_sock = Path(_socket_of(daemon))
        assert run_sock.name == "demo.sock"
        wait_for(run_sock.exists, 10, "the daemon's socket")
        first = _demo(env, tmp_path / "a.wav")
        try:
            sock = _socket_of(first)
            second = subprocess.run(bridge_cmd("demo", "--headless", "--out",
                                               str(tmp_path / "b.wav")), cwd=ROOT, env=env,
                                    capture_output=True, text=True, timeout=90)
            _, err = first.communicate(timeout=90)
        finally:
            if first.poll() is None:
                first.kill()
                first.communicate()
        status = subprocess.run(bridge_cmd("ctl", "-p", "demo", "status"), cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=30)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=20)
    assert second.returncode == 0, second.stderr
    assert "already running" not in second.stderr, second.stderr
    assert first.returncode == 0, err
    assert "already running" not in err, err
    theirs = [line.split("control socket: ", 1)[1] for line in second.stderr.splitlines()
              if "control socket: " in line]
    assert theirs and theirs[0] not in (sock, str(run_sock)), "a socket of its own"
    assert sock != str(run_sock), "a socket of its own"
    assert (tmp_path / "a.wav").stat().st_size > 10000
    assert (tmp_path / "b.wav").stat().st_size > 10000
    assert status.returncode == 0 and "waiting for trigger" in status.stdout, \
        "ctl -p demo still reaches the run's daemon: " + status.stdout + status.stderr
