"""`check`'s TLS item says what failed: a server answering without TLS, or no connection at
all, rather than OpenSSL's code or "[Errno 111] Connect call failed" with "check the clock,
a proxy, or ca-certificates" (user helper: neither is a matter of clocks or CAs)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bridge.sim import SimConfig, run_in_thread
from tests.e2e.conftest import PLAIN_TLS
from tests.faults.harness import write_profile
from tests.network.conftest import proxy_env, run

pytestmark = pytest.mark.timeout(120)


def _check(directory: Path, base_url: str) -> list[str]:
    profile = write_profile(directory, base_url)
    checked = run("check", "--profile", str(profile),
                  env=proxy_env(None, None, HTTPS_PROXY="", https_proxy=""))
    assert checked.returncode == 5, checked.stdout + checked.stderr
    return checked.stdout.splitlines()


def test_a_plain_http_server_under_https_is_named(short_dir: Path) -> None:
    with run_in_thread(SimConfig(port=0)) as sim:  # plain HTTP
        lines = _check(short_dir, sim.base_url.replace("http://", "https://"))
    assert " ✗ TLS to 127.0.0.1 verifies — it answered in plain text, not TLS " \
           f"({PLAIN_TLS}): a server without TLS takes http:// in api.base_url" \
           in lines, lines


def test_a_refused_connection_is_no_tls_failure(short_dir: Path) -> None:
    with socket.socket() as held:  # a port nothing listens on
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
    lines = _check(short_dir, f"https://127.0.0.1:{port}")
    assert f" ✗ API host 127.0.0.1 reachable — connection refused by 127.0.0.1:{port} " \
           f"(nothing listens there); check the network (a firewall?) and api.base_url" \
           in lines, lines
    assert not any("clock" in line or "Errno" in line for line in lines), lines
