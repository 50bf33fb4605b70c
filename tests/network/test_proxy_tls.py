"""Networks people really have: the real `vapi-bridge` processes reach a simulator served
over TLS (a test CA, trusted through `SSL_CERT_FILE`) through an HTTP CONNECT proxy on
loopback (`HTTPS_PROXY`, or `ALL_PROXY`), for REST, the call socket, controlUrl POSTs and `listen`.

`NO_PROXY` is emptied: loopback is often in it by default, and then nothing would go
through the proxy; the proxy's record of CONNECTs shows that everything did.
"""

from __future__ import annotations

import subprocess
import time
import wave
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.sim import SimHandle
from tests.e2e.conftest import ROOT, bridge_cmd
from tests.faults.harness import write_profile
from tests.network.conftest import proxy_env, run, sim_with_cert
from tests.network.connect_proxy import ConnectProxy

pytestmark = pytest.mark.timeout(180)
KEY = "sim-private-key"


@pytest.fixture
def tls_sim(short_dir: Path) -> Iterator[tuple[SimHandle, Path]]:
    """A simulator serving https/wss with a certificate from a test CA; the CA's PEM."""
    with sim_with_cert(short_dir, "127.0.0.1", "localhost", api_key=KEY) as made:
        yield made


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "ALL_PROXY"])
def test_a_call_over_tls_goes_through_the_proxy(tls_sim: tuple[SimHandle, Path],
                                                short_dir: Path, variable: str) -> None:
    """ALL_PROXY too: websockets' own lookup skipped it, so the socket went direct."""
    sim, ca_pem = tls_sim
    assert sim.base_url.startswith("https://127.0.0.1:")
    profile = write_profile(short_dir, sim.base_url)
    with ConnectProxy() as proxy:
        env = proxy_env(proxy, ca_pem)
        if variable == "ALL_PROXY":
            env.update(HTTPS_PROXY="", https_proxy="", ALL_PROXY=proxy.url, all_proxy=proxy.url)
        result = run("run", "--profile", str(profile), env=env)
    assert result.returncode == 0, result.stderr
    assert "ended: exceeded-max-duration" in result.stdout, result.stdout
    target = f"127.0.0.1:{sim.port}"
    # REST kept alive (POST /call, then GET /call/{id} on the same tunnel; GET /assistant,
    # asked in the background as the daemon starts, on a second one while the POST is out),
    # and one for the socket
    assert set(proxy.tunnels) == {target} and 2 <= len(proxy.tunnels) <= 3, proxy.tunnels
    assert proxy.refused == []
    # the socket's tunnel: the microphone's 3 s at 32 kB/s (REST's carry a few kB)
    assert max(proxy.sent) > 64_000, proxy.sent


def test_no_proxy_is_honoured(tls_sim: tuple[SimHandle, Path], short_dir: Path) -> None:
    sim, ca_pem = tls_sim
    profile = write_profile(short_dir, sim.base_url)
    with ConnectProxy() as proxy:
        result = run("run", "--profile", str(profile),
                     env=proxy_env(proxy, ca_pem, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1"))
    assert result.returncode == 0, result.stderr
    assert proxy.tunnels == [], "NO_PROXY hosts are reached directly"


def test_an_untrusted_certificate_is_one_clear_line(tls_sim: tuple[SimHandle, Path],
                                                    short_dir: Path) -> None:
    sim, _ = tls_sim
    profile = write_profile(short_dir, sim.base_url)
    with ConnectProxy() as proxy:
        result = run("run", "--profile", str(profile), env=proxy_env(proxy, None))
    assert result.returncode == 5, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("vapi-bridge: ") and "SSL_CERT_FILE" in last, result.stderr
    assert "Traceback" not in result.stderr
    assert proxy.tunnels, "it went through the proxy and met the simulator's certificate"
    assert not sim_calls(sim), "no call was created"


@pytest.mark.parametrize("shift", [-1, 1])
def test_a_certificate_out_of_its_dates_names_the_clock(short_dir: Path, shift: int) -> None:
    """A Raspberry Pi has no clock of its own: until NTP has run (or where a firewall
    blocks it) it is hours or days behind or ahead, and every certificate is "not valid
    yet" or "expired" to it. Before, the line said to add the CA to the trust store or
    name it in SSL_CERT_FILE, which cannot help; now it names the clock (about 2 s)."""
    now = datetime.now(UTC)
    dates = ({"not_before": now + timedelta(days=2), "not_after": now + timedelta(days=9)}
             if shift > 0 else {"not_before": now - timedelta(days=9),
                                "not_after": now - timedelta(days=2)})
    with sim_with_cert(short_dir, "127.0.0.1", api_key=KEY, **dates) as (sim, ca_pem):
        profile = write_profile(short_dir, sim.base_url)
        result = run("run", "--profile", str(profile), env=proxy_env(None, ca_pem))
        assert not sim_calls(sim), "no call was created"
    assert result.returncode == 5, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    said = "is not valid yet" if shift > 0 else "has expired"
    assert last.startswith("vapi-bridge: the TLS certificate of 127.0.0.1:") and \
        f" {said} by this machine's clock ({now:%Y-%m-%d} " in last and \
        "— set the clock (timedatectl" in last and "SSL_CERT_FILE" not in last, last


def sim_calls(sim: SimHandle) -> list[Any]:
    assert sim.simulator is not None
    return list(sim.simulator.ctx.calls.calls.values())


def test_control_url_and_listen_go_through_the_proxy(tls_sim: tuple[SimHandle, Path],
                                                     short_dir: Path) -> None:
    sim, ca_pem = tls_sim
    sock = short_dir / "ctl.sock"
    profile = write_profile(short_dir, sim.base_url,
                            assistant={"overrides": {"maxDurationSeconds": 30}},
                            call={"commands_via": "control-url"},
                            service={"mode": "once", "control_socket": str(sock)})
    with ConnectProxy() as proxy:
        env = proxy_env(proxy, ca_pem)
        daemon = subprocess.Popen(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        try:
            deadline = time.monotonic() + 30
            while "in-progress" not in run("ctl", "--socket", str(sock), "status",
                                           env=env).stdout:
                assert daemon.poll() is None and time.monotonic() < deadline, "no call"
                time.sleep(0.3)
            said = run("ctl", "--socket", str(sock), "say", "Through the proxy.", env=env)
            assert said.returncode == 0, said.stderr
            wav = short_dir / "listen.wav"
            heard = run("listen", "--socket", str(sock), "--seconds", "2", "--out", str(wav),
                        "--no-events", env=env)
            assert heard.returncode == 0, heard.stderr
            run("ctl", "--socket", str(sock), "end", env=env)
            _, err = daemon.communicate(timeout=30)
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.communicate(timeout=10)
    assert daemon.returncode == 0, err
    (call,) = sim_calls(sim)
    controls = [m["message"] for m in call.messages_received if m["source"] == "control"]
    assert {"type": "say", "content": "Through the proxy."}.items() <= controls[0].items()
    with wave.open(str(wav), "rb") as w:
        assert w.getnframes() >= w.getframerate(), "the listen stream carried audio"
    # create, call socket, controlUrl POST, listen socket (and GETs): all tunnelled
    assert proxy.tunnels.count(f"127.0.0.1:{sim.port}") >= 4, proxy.tunnels


def test_a_socks_proxy_without_its_packages_is_one_clear_line(short_dir: Path) -> None:
    profile = write_profile(short_dir, "https://127.0.0.1:9")
    result = run("run", "--profile", str(profile),
                 env=proxy_env(None, None, HTTPS_PROXY="socks5://127.0.0.1:9"))
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("vapi-bridge: ") and "pip install 'httpx[socks]'" in last
    assert "Traceback" not in result.stderr
