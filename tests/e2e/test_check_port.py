"""`vapi-bridge check` binds the kiosk screen's `http.listen` as `run` would: a port another
process holds is a ✗ naming the cause `run` warns of (`run` then takes calls without the
screen) with check's exit code for a wrong profile — through the real `vapi-bridge`
process, the simulator and a real listening socket."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.e2e.conftest import ProfileBuilder, run_bridge


def test_check_says_the_kiosk_screens_port_is_taken(start_sim,
                                                    profiles: ProfileBuilder) -> None:
    sim = start_sim(assistant="echo")
    # a call of 1 s (the simulator's default: 60 s; call.max_duration_seconds: 10 at least)
    profile = str(profiles.write(sim.base_url, assistant={
        "id": "echo", "overrides": {"firstMessage": "", "maxDurationSeconds": 1}}))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        listen = f"127.0.0.1:{held.getsockname()[1]}"
        checked = run_bridge("check", "-p", profile, "--set", f"http.listen={listen}")
        ran = run_bridge("run", "-p", profile, "--set", f"http.listen={listen}")
    assert ran.returncode == 0, ran.stderr  # the call was placed, the screen left out
    assert "ended: exceeded-max-duration" in ran.stdout, ran.stdout
    warning = next(line for line in ran.stderr.splitlines() if "cannot listen" in line)
    assert f"http.listen: cannot listen on {listen}: Address already in use — the kiosk " \
        f"runs without its screen and metrics" in warning, warning
    line = f" ✗ kiosk screen (http.listen {listen}) available — http.listen: cannot listen " \
        f"on {listen}: Address already in use — choose another port or address"
    assert line in checked.stdout.splitlines(), checked.stdout
    assert checked.returncode == 2, checked.stdout
    assert "  2    the profile is wrong" in run_bridge("check", "--help").stdout


def test_check_passes_a_free_port_and_leaves_it_free(start_sim,
                                                     profiles: ProfileBuilder) -> None:
    sim = start_sim(assistant="echo")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        listen = f"127.0.0.1:{probe.getsockname()[1]}"
    checked = run_bridge("check", "-p", str(profiles.write(sim.base_url)),
                         "--set", f"http.listen={listen}")
    assert checked.returncode == 0, checked.stdout
    assert f" ✓ kiosk screen (http.listen {listen}) available" in checked.stdout
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", int(listen.rsplit(":", 1)[1])))  # check let it go


def test_a_taken_ipv6_port_is_named_as_http_listen_writes_it() -> None:
    """`[::1]:PORT` taken: `check` said "cannot listen on ::1:PORT", an address and port
    that read as neither (and that `http.listen` refuses: IPv6 goes in brackets)."""
    from bridge.cli.check_kiosk import InUse, bindable

    try:  # (a machine, or a container, without IPv6: nothing to hold)
        held = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here ({exc.strerror or exc})")
    with held:
        listen = f"[::1]:{held.getsockname()[1]}"
        with pytest.raises(InUse) as taken:
            asyncio.run(bindable(listen))
    assert str(taken.value) == f"http.listen: cannot listen on {listen}: Address already " \
        f"in use — choose another port or address"
