"""Two kiosks on one box given the same `http.listen` (a profile copied with its port).
The second took calls without its screen, told to "free the port or choose another", with
nothing naming the kiosk that held it; when the first stopped (an upgrade's restart) the
second took the port without a word above info, and the first kiosk's browser showed the
second's screen: its Call button called from the other desk (fleet probe)."""

from __future__ import annotations

import signal
import socket
import subprocess

import httpx

from tests.control.conftest import wait_for
from tests.e2e.conftest import ROOT, ProfileBuilder, StderrLines, bridge_cmd, bridge_env
from tests.web.conftest import web_profile


def test_a_port_another_kiosk_holds_is_named_and_taking_it_over_is_said(
        profiles: ProfileBuilder, start_sim, start_web) -> None:
    sim = start_sim()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    first = start_web(web_profile(profiles, sim, port, name="frontdesk"), port)
    proc = subprocess.Popen(bridge_cmd("run", "--profile",
                                       str(web_profile(profiles, sim, port, name="lobby"))),
                            cwd=ROOT, env=bridge_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    err = StderrLines(proc)
    try:
        wait_for(lambda: err.has("cannot listen") or proc.poll() is not None, 30,
                 "the second kiosk's word on the taken port")
        first.proc.send_signal(signal.SIGTERM)  # the first one restarts (an upgrade)
        assert first.proc.wait(timeout=30) == 0
        wait_for(lambda: err.has("the kiosk screen is at") or proc.poll() is not None, 30,
                 "the second kiosk on the freed port")
        state = httpx.get(f"http://127.0.0.1:{port}/state", timeout=5).json()
        assert state["profile"] == "lobby"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    said = err.join()
    assert (f"WARNING http.listen: cannot listen on 127.0.0.1:{port}: Address already in use "
            f"(the kiosk screen of profile 'frontdesk') — the kiosk runs without its screen "
            f"and metrics, trying again every 5 s (give this profile (lobby) an http.listen "
            f"of its own" in said), said
    assert (f"WARNING http: the kiosk screen is at http://127.0.0.1:{port}/ now, on the port "
            f"the kiosk screen of profile 'frontdesk' held: a browser opened for that kiosk "
            f"shows this one" in said), said
    assert "Traceback" not in said and proc.returncode == 0, said
