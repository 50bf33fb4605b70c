"""A call the kiosk ends because nobody was heard: the log's `ended (…)` line says so,
beside Vapi's own reason, instead of reading as if the visitor had hung up — through the
real `vapi-bridge run` and the simulator."""

from __future__ import annotations

from tests.e2e.conftest import ProfileBuilder, run_bridge


def test_the_ended_line_says_the_kiosk_ended_it(start_sim, profiles: ProfileBuilder) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, call={"max_duration_seconds": 30,
                                                 "end_when_visitor_leaves_seconds": 1})
    done = run_bridge("run", "-p", str(profile), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ending the call (visitor-left)" in done.stderr, done.stderr
    ended = [line for line in done.stderr.splitlines() if ": ended (" in line]
    assert len(ended) == 1, done.stderr
    assert ended[0].endswith("ended (customer-ended-call: the kiosk ended it, visitor-left)"), \
        ended[0]
    assert "ended: visitor-left" in done.stdout, done.stdout
    assert sim.only_call()["endedReason"] == "customer-ended-call"
