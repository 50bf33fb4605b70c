"""A proxy that cannot be reached is named, with its variable, not taken for the API host
being down — through the real `vapi-bridge run` process, the simulator up and reachable
directly the whole time."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.faults.harness import Sim, write_profile
from tests.network.conftest import proxy_env, run


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY"])
def test_a_dead_proxy_is_named_with_its_variable(short_dir: Path, variable: str) -> None:
    with socket.socket() as closed, Sim() as sim:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connecting is refused
        proxy = f"127.0.0.1:{closed.getsockname()[1]}"
        profile = write_profile(short_dir, sim.base_url)
        env = proxy_env(None, None, **{variable: f"http://{proxy}",
                                       variable.lower(): f"http://{proxy}"})
        result = run("run", "--profile", str(profile), env=env)
        assert result.returncode == 5, result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert f"the proxy {proxy} ({variable}): connection refused" in last, last
        assert f"— check {variable}, or add 127.0.0.1 to NO_PROXY" in last, last
        assert "refused by 127.0.0.1:" not in last, "not the API host: it was up"
        assert sim.get("/_sim/calls")["calls"] == [], "no call was made"
        # with the host in NO_PROXY, the same profile calls directly
        direct = run("run", "--profile", str(profile),
                     env={**env, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
        assert direct.returncode == 0, direct.stderr


@pytest.mark.parametrize(("proxy", "code"), [
    ("http://user:s3cretpw@", 5),  # no host: not shown as it is
    ("http://user:0007/s3cretpw@proxy.invalid:3128", 5),  # read as host "user", port 7
    ("http://user:s3cr#etpw@proxy.invalid:3128", 2),  # httpx cannot read it at all
])
def test_a_proxy_password_is_never_printed(short_dir: Path, proxy: str, code: int) -> None:
    with Sim() as sim:
        profile = write_profile(short_dir, sim.base_url, api={"retry_attempts": 1})
        env = proxy_env(None, None, HTTP_PROXY=proxy, http_proxy=proxy)
        result = run("run", "--profile", str(profile), "-v", env=env)
    assert result.returncode == code, result.stderr
    printed = result.stdout + result.stderr
    for part in ("s3cr", "etpw", "user:", "user@"):  # nor the password's head as host:port
        assert part not in printed, printed
    assert "Traceback" not in printed and "internal error" not in printed, printed
    last = result.stderr.strip().splitlines()[-1]
    assert "HTTP_PROXY" in last, last
