"""A link that stalls and comes back keeps its call: the real `vapi-bridge run` reaches a
TLS simulator through a CONNECT proxy that is a bad link (`connect_proxy.py`: a rate, and
a stall holding everything both ways)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, bridge_cmd
from tests.faults.harness import write_profile
from tests.network.conftest import proxy_env
from tests.network.connect_proxy import ConnectProxy
from tests.network.test_proxy_tls import tls_sim  # noqa: F401  (the fixture)

pytestmark = pytest.mark.timeout(120)


def test_a_slow_link_that_stalls_six_seconds_keeps_its_call(tls_sim, short_dir: Path  # noqa: F811
                                                            ) -> None:
    """300 kbit/s each way (the wire's audio is 256 kbit/s), then both ways held 6 s, 4 s
    into the call. The backlog queues any pong behind it; audio flowing again is proof
    enough that the link lives. Before, websockets' own keepalive (10 s for its pong) ended
    the call 9 s after the stall, with audio flowing (5 of 5 through a proxy like this)."""
    sim, ca_pem = tls_sim
    profile = write_profile(short_dir, sim.base_url, assistant={
        "overrides": {"firstMessage": "Hello.", "maxDurationSeconds": 24}})
    with ConnectProxy() as proxy:
        proxy.rate = 300_000 / 8
        run = subprocess.Popen(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT,
                               env=proxy_env(proxy, ca_pem), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while len(proxy.sent) < 2 or max(proxy.sent) < 4 * 32_000:  # 4 s of the call
                assert run.poll() is None and time.monotonic() < deadline, run.communicate()
                time.sleep(0.05)
            proxy.stall(6.0)
            out, err = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
    assert proxy.held >= 2, "the stall held traffic (both ways)"
    assert run.returncode == 0, err
    assert "connection lost" not in err, err
    assert "ended: exceeded-max-duration" in out, out
