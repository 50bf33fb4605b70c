"""`vapi-bridge sim` as a user runs it, a process of its own: a port already taken gets a
line that names the fix; its own log keeps keys and call URLs out even when a fault
makes a call end with them in its reason."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.conftest import ROOT, ProfileBuilder, bridge_cmd, bridge_env, run_bridge

SECRET_KEY = "sk-probe-SECRET-4242"


@contextmanager
def sim_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`vapi-bridge sim --port 0 ARGS`, and the base URL its first line prints."""
    proc = subprocess.Popen(bridge_cmd("sim", "--port", "0", *args), cwd=ROOT,
                            env=bridge_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("simulator listening on http://127.0.0.1:"), first
        yield proc, first.split()[3]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)


def test_a_port_in_use_names_the_fix() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        done = run_bridge("sim", "--port", str(port), timeout=30)
    finally:
        taken.close()
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"vapi-bridge sim: cannot listen on 127.0.0.1:{port}: the "
                               f"port is in use"), lines[0]
    assert "--port 0" in lines[0] and "another --port" in lines[0], lines[0]
    assert "[Errno" not in lines[0], lines[0]


def test_a_certificate_it_cannot_use_names_the_tls_options(tmp_path: Path) -> None:
    pem = tmp_path / "not-a-cert.pem"
    pem.write_text("not a certificate\n")
    done = run_bridge("sim", "--port", "0", "--tls-cert", str(pem), "--tls-key", str(pem),
                      timeout=30)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].endswith("— check --tls-cert and --tls-key (PEM files: the certificate "
                             "chain, and its key)"), lines[0]


def test_the_simulators_log_holds_no_key_or_call_url(profiles: ProfileBuilder) -> None:
    """`--fault echo-secrets`: the call ends with its URLs and the key in its reason; the
    simulator's own `ended (…)` line masks them (docs/simulator.md: never logged)."""
    with sim_process("--fault", "echo-secrets", "--api-key", SECRET_KEY) as (proc, url):
        profile = profiles.write(url, assistant={"overrides": {"firstMessage": "Hello."}})
        done = run_bridge("run", "-p", str(profile), timeout=60, VAPI_API_KEY=SECRET_KEY)
        assert "ended: assistant-ended-call" in done.stdout, done.stdout + done.stderr
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert "ended (assistant-ended-call id " in err, err
    assert SECRET_KEY not in err, err
    assert "ws://" not in err and "/transport" not in err and "/control" not in err, err
    assert "<api key>" in err and "<websocketCallUrl>" in err, err
