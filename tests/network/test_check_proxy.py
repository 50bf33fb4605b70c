"""`check` behind a proxy, through the real `vapi-bridge` processes: the API host is a name
only the proxy resolves (a CONNECT proxy on loopback with its own DNS, in front of a TLS
simulator whose certificate bears that name), as on networks where only the proxy reaches
the internet. `check` does not ask the local resolver then; it says the host is reached
through the proxy and checks the key and the assistant through it, as `run` calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.sim import SimConfig, SimHandle, run_in_thread
from tests.e2e.conftest import PLAIN_TLS
from tests.faults.harness import write_profile
from tests.network.conftest import proxy_env, run, sim_with_cert
from tests.network.connect_proxy import ConnectProxy

pytestmark = pytest.mark.timeout(180)
KEY = "sim-private-key"
NAME = "api.vapi-sim.invalid"  # never resolvable here (RFC 2606)


@pytest.fixture
def named_sim(short_dir: Path) -> Iterator[tuple[SimHandle, Path]]:
    """A simulator serving https with a certificate for NAME from a test CA; the CA's PEM."""
    with sim_with_cert(short_dir, NAME, api_key=KEY) as made:
        yield made


def test_check_goes_through_the_proxy_when_only_the_proxy_resolves_the_host(
        named_sim: tuple[SimHandle, Path], short_dir: Path) -> None:
    sim, ca_pem = named_sim
    profile = write_profile(short_dir, f"https://{NAME}:{sim.port}")
    with ConnectProxy(hosts={NAME: "127.0.0.1"}) as proxy:
        env = proxy_env(proxy, ca_pem)
        checked = run("check", "--profile", str(profile), env=env)
        called = run("run", "--profile", str(profile), env=env)
    assert called.returncode == 0, called.stderr  # what check is to agree with
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert (f" ✓ API host {NAME} reached through the proxy 127.0.0.1:{proxy.port} "
            f"(HTTPS_PROXY) — not resolved here: the proxy does; TLS, the key and the "
            f"assistant are checked through it") in lines, checked.stdout
    for passed in (" ✓ API key present", " ✓ API key accepted",
                   " ✓ assistant 'echo' found — 'vapi-bridge-sim echo'"):
        assert passed in lines, checked.stdout
    # the harness's 3 s calls are below Vapi's 10 s maxDurationSeconds (the simulator takes
    # them): the one warning, of what Vapi would refuse
    assert any(line.startswith(" ! what the call sends Vapi — assistant.overrides."
                               "maxDurationSeconds must not be less than 10") for line in lines)
    assert lines[-1] == "ready: all checks passed (1 warning)"
    assert f"{NAME}:{sim.port}" in proxy.tunnels


def test_check_says_a_range_in_no_proxy_is_not_read(
        named_sim: tuple[SimHandle, Path], short_dir: Path) -> None:
    """curl reads `10.0.0.0/8` in NO_PROXY; the bridge's client does not, and a host meant to
    bypass the proxy then goes through it without a word."""
    sim, ca_pem = named_sim
    profile = write_profile(short_dir, f"https://{NAME}:{sim.port}")
    with ConnectProxy(hosts={NAME: "127.0.0.1"}) as proxy:
        env = proxy_env(proxy, ca_pem, NO_PROXY="localhost,10.0.0.0/8")
        checked = run("check", "--profile", str(profile), env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr  # a warning, no fault
    assert (" ! NO_PROXY entry 10.0.0.0/8 — a range, which is not read (host names and "
            "addresses only): list the hosts to reach directly") in checked.stdout.splitlines()
    assert "localhost" not in checked.stdout


def test_a_host_in_no_proxy_is_resolved_here(named_sim: tuple[SimHandle, Path],
                                            short_dir: Path) -> None:
    sim, ca_pem = named_sim
    profile = write_profile(short_dir, f"https://{NAME}:{sim.port}")
    with ConnectProxy(hosts={NAME: "127.0.0.1"}) as proxy:
        checked = run("check", "--profile", str(profile),
                      env=proxy_env(proxy, ca_pem, NO_PROXY=".invalid", no_proxy=".invalid"))
    assert checked.returncode == 5, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert any(line.startswith(f" ✗ API host {NAME} resolves — ") for line in lines), lines
    assert " ✓ API key present" in lines, "the key is looked at here, whatever the network"
    assert not any("API key accepted" in line for line in lines)
    assert proxy.tunnels == []


def test_a_proxy_that_takes_no_connection_is_the_failed_check(
        named_sim: tuple[SimHandle, Path], short_dir: Path) -> None:
    """Not "✓ reached through the proxy" and then the key blamed."""
    sim, ca_pem = named_sim
    profile = write_profile(short_dir, f"https://{NAME}:{sim.port}")
    with ConnectProxy(hosts={NAME: "127.0.0.1"}) as proxy:
        port = proxy.port
        env = proxy_env(proxy, ca_pem)
    checked = run("check", "--profile", str(profile), env=env)  # the proxy is gone
    assert checked.returncode == 5, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert f" ✗ proxy 127.0.0.1:{port} (HTTPS_PROXY) reachable — Connection refused; check " \
           f"the proxy, or HTTPS_PROXY (NO_PROXY for hosts to reach directly)" in lines, lines
    assert not any("API key accepted" in line for line in lines), lines


@pytest.mark.parametrize(("proxy", "said"), [
    ("http://proxy.invalid:3128", "proxy proxy.invalid:3128 (HTTPS_PROXY) reachable — cannot "
     "resolve proxy.invalid (Name or service not known)"),
    ("http://", "proxy (HTTPS_PROXY) reachable — its URL names no host one can read "
     "(http://HOST:PORT)")])
def test_a_proxy_that_cannot_be_found_is_said_in_words(short_dir: Path, proxy: str,
                                                       said: str) -> None:
    """A proxy's name the resolver does not know read "Unknown error -2"; a proxy URL with
    no host was "✓ API host … reached through the proxy a proxy", then the key blamed."""
    profile = write_profile(short_dir, f"https://{NAME}")
    checked = run("check", "--profile", str(profile),
                  env=proxy_env(None, None, HTTPS_PROXY=proxy, https_proxy=proxy))
    assert checked.returncode == 5, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert f" ✗ {said}; check the proxy, or HTTPS_PROXY (NO_PROXY for hosts to reach " \
           f"directly)" in lines, lines
    assert not any("reached through" in line or "Unknown error" in line for line in lines)


def test_a_plain_proxy_written_https_is_named_not_the_api_host(short_dir: Path) -> None:
    """HTTPS_PROXY=https://… for a proxy without TLS (most are: the scheme is how the
    bridge reaches the proxy, not the API) said "TLS handshake with api.vapi-sim.invalid
    failed (WRONG_VERSION_NUMBER)": the API host's, whose fix was looked for there."""
    profile = write_profile(short_dir, f"https://{NAME}")
    with run_in_thread(SimConfig(port=0)) as plain:  # an HTTP server: a 400 to TLS's hello
        written = plain.base_url.replace("http://", "https://")
        checked = run("check", "--profile", str(profile),
                      env=proxy_env(None, None, HTTPS_PROXY=written, https_proxy=written))
    assert checked.returncode == 5, checked.stdout + checked.stderr
    where = written.removeprefix("https://").rstrip("/")
    assert f"TLS handshake with the proxy {where} (HTTPS_PROXY) failed: it answered in " \
           f"plain text, not TLS ({PLAIN_TLS}) — a proxy without TLS takes " \
           f"http://, not https://, in HTTPS_PROXY" in checked.stdout, checked.stdout
