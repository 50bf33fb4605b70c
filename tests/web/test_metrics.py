"""`/metrics` scraped as Prometheus would, after a real call, and parsed with
prometheus-client's own parser; and nothing the server gives out (page, state, events,
metrics) holds the call's full id (which every URL of the call contains) or the key."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from bridge import events
from bridge.events import EventBus
from bridge.service.progress import count_down
from tests.e2e.conftest import KEY, visitor_wav
from tests.web.conftest import (
    ROOT,
    EventTap,
    ProfileBuilder,
    bridge_cmd,
    bridge_env,
    free_port,
    wait_for,
    web_profile,
)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def events_of(tap: EventTap) -> list[dict[str, Any]]:
    return [json.loads(line[5:]) for line in list(tap.lines) if line.startswith("data:")]


def test_metrics_after_a_call_and_no_secret_anywhere(
        start_sim, profiles: ProfileBuilder, start_web, tmp_path: Path) -> None:
    sim = start_sim(assistant="echo", think_ms=300)
    visitor = tmp_path / "visitor.wav"
    visitor_wav(visitor, bursts=1)  # one turn: the echo assistant answers it
    port = free_port()
    profile = web_profile(profiles, sim, port, first="Hello there.",
                          overrides={"maxDurationSeconds": 6},
                          audio={"input": f"file:{visitor}"})
    state = str(tmp_path / "state")
    daemon = start_web(profile, port, STATE_DIRECTORY=state)
    before = samples(daemon.get("/metrics").text)
    assert before[("vapi_bridge_state", (("vapi_bridge_state", "standby"),))] == 1
    assert before[("vapi_bridge_calls_total", (("outcome", "ok"),
                                               ("reason", "exceeded-max-duration")))] == 0
    tap = EventTap(daemon.base + "/events?level=1")
    wait_for(lambda: any(e["event"] == "standby" for e in events_of(tap)), 20, "the replay")

    answer = daemon.post("/call")
    assert answer.status_code == 202, answer.text
    ended = wait_for(lambda: next((e for e in events_of(tap) if e["event"] == "ended"), None),
                     40, "the call's end")
    wait_for(lambda: any(e["event"] == "standby" and e["seq"] > ended["seq"]
                         for e in events_of(tap)), 20, "standby again")
    live_levels = [e for e in events_of(tap) if e["event"] == "level"]
    tap.close()

    response = daemon.get("/metrics")
    texts = {"/": daemon.get("/").text, "/state": daemon.get("/state").text,
             "/metrics": response.text, "/events": tap.text}
    assert response.headers["content-type"].startswith("text/plain; version=")
    after = samples(response.text)
    reason = (("outcome", "ok"), ("reason", "exceeded-max-duration"))
    assert after[("vapi_bridge_calls_total", reason)] == 1
    assert ended["reason"] == "exceeded-max-duration" and ended["outcome"] == "ok"
    assert after[("vapi_bridge_call_duration_seconds_count", ())] == 1
    duration = after[("vapi_bridge_call_duration_seconds_sum", ())]
    assert duration == ended["seconds"] and 5.5 <= duration <= 12, duration
    last_ok = after[("vapi_bridge_last_ok_call_end_timestamp_seconds", ())]
    assert abs(last_ok - ended["at"]) < 0.001
    assert ended["cost"] > 0 and after[("vapi_bridge_call_cost_dollars_total", ())] == \
        ended["cost"], "the cost Vapi reported"
    assert after[("vapi_bridge_state", (("vapi_bridge_state", "standby"),))] == 1
    assert after[("vapi_bridge_call_in_progress", ())] == 0
    daemon.stop()
    line = re.search(r"^call \S+ ended: .*$", daemon.out, re.M)
    assert line, daemon.out
    summary = line.group(0)  # the call's summary line, as the daemon printed it
    underruns = re.search(r"(\d+) audible underruns?", summary)
    dropped = re.search(r"dropped (\d+) ms of speech", summary)
    assert underruns and dropped, summary
    assert after[("vapi_bridge_audible_underruns_total", ())] == int(underruns.group(1))
    assert round(after[("vapi_bridge_speech_dropped_seconds_total", ())] * 1000) == \
        int(dropped.group(1))
    # whether the CPU kept up, as the summary said (a call that kept up: 0, still a series)
    assert after[("vapi_bridge_calls_cpu_behind_total", ())] == \
        ("the CPU could not keep up" in summary), summary
    assert after[("vapi_bridge_loop_late_seconds_total", ())] >= 0
    turns = [e for e in events_of(tap) if e["event"] == "turn"]
    assert len(turns) == 1, "the visitor spoke once and was answered"
    assert after[("vapi_bridge_heard_gap_seconds_count", ())] == 1
    assert after[("vapi_bridge_heard_gap_seconds_sum", ())] == turns[0]["heard_gap_ms"] / 1000
    build = next(labels for name, labels in after if name == "vapi_bridge_build_info")
    # the version the program says it is (this test process's `bridge.__version__` is what
    # bridge/_version.py said when it was imported: a build in the checkout rewrites it)
    said = subprocess.run(bridge_cmd("--version"), cwd=ROOT, env=bridge_env(),
                          capture_output=True, text=True, timeout=60).stdout
    assert said.startswith("vapi-bridge ") and ("version", said.split()[1]) in build, said
    assert ("profile", "kiosk") in build, "several kiosks on one host are told apart"
    assert live_levels and all(-100 <= e["db"] <= 0 for e in live_levels), \
        "the page's meter had the microphone's level during the call"
    # a restart (a reboot, an upgrade): the last good call is still known, so an alert on
    # `time() - vapi_bridge_last_ok_call_end_timestamp_seconds` does not fire on it
    again = start_web(profile, port, STATE_DIRECTORY=state)
    restarted = samples(again.get("/metrics").text)
    assert restarted[("vapi_bridge_last_ok_call_end_timestamp_seconds", ())] == \
        round(last_ok, 3)
    again.stop()

    call_id = sim.only_call()["id"]
    assert f'"call":"{call_id[-8:]}"' in tap.text, "the events name the call by its short id"
    for path, text in texts.items():
        assert call_id not in text, f"{path} gives out the call's full id (its URLs hold it)"
        assert KEY not in text, f"{path} gives out the API key"
        assert "ws://" not in text and "/transport" not in text, path


def metrics_on_a_bus() -> tuple[Any, Any]:
    """`KioskMetrics` fed by a bus of its own (a host with no call), as the daemon feeds it."""
    from bridge.web.metrics import KioskMetrics

    class Host:
        events = EventBus()
        call = None
        last_summary = None

        @staticmethod
        def snapshot() -> dict[str, Any]:
            return {}  # no profile: nothing kept in a state directory

    metrics = KioskMetrics(Host())  # type: ignore[arg-type]
    Host.events.listen(metrics.on_event)
    return Host, metrics


def test_heard_gap_histogram_from_turn_events() -> None:
    """The histogram follows the `turn{heard_gap_ms}` events the call publishes; values no
    clock could give are left out."""
    Host, metrics = metrics_on_a_bus()
    for gap in (420, 980, 1600, -5, "x", None, 10**9):
        Host.events.publish("turn", heard_gap_ms=gap)
    Host.events.publish("error", message="limit reached", cause="spending-limit")
    got = samples(metrics.exposition()[0].decode())
    assert got[("vapi_bridge_heard_gap_seconds_count", ())] == 3
    assert abs(got[("vapi_bridge_heard_gap_seconds_sum", ())] - 3.0) < 1e-9
    assert got[("vapi_bridge_heard_gap_seconds_bucket", (("le", "1.0"),))] == 2
    assert got[("vapi_bridge_call_errors_total", (("cause", "spending-limit"),))] == 1


def test_no_url_leaves_in_an_event_or_a_label() -> None:
    """Whatever text reached an event (an error's message, Vapi's ended reason), a call
    URL in it is cut to its host before it is served; an unreadable one is withheld."""
    from bridge.web import scrub
    Host, metrics = metrics_on_a_bus()
    url = "wss://api.vapi.ai/0193-call-id-secret/transport"
    served = [scrub.event_json(Host.events.publish("error", message=f"could not open {url}",
                                                   cause=url)),
              scrub.event_json(Host.events.publish("ended", reason=f"see http://h:99999/{url}",
                                                   outcome="ok", seconds=1.0))]
    served.append(metrics.exposition()[0].decode())
    for text in served:
        assert "0193-call-id-secret" not in text, text
    assert "wss://api.vapi.ai/…" in served[0]


def test_odd_ended_reasons_never_hide_the_common_ones() -> None:
    """A server ending 40 calls with reasons of its own (or echoing a masked id in them)
    took every label: the next `customer-ended-call` counted as "other" until a restart,
    and an alert on it went blind (operator helper). Common reasons keep their series;
    a reason Vapi could not have sent (a masked id, a space) is "other" at once."""
    Host, metrics = metrics_on_a_bus()
    Host.events.publish("ended", reason="id …1a2b3c4d in it", outcome="ok", seconds=1.0)
    for n in range(45):
        Host.events.publish("ended", reason=f"unique-{n}", outcome="ok", seconds=1.0)
    for reason in ("customer-ended-call", "silence-timed-out", "connection-lost"):
        Host.events.publish("ended", reason=reason, outcome="ok", seconds=1.0)
    got = samples(metrics.exposition()[0].decode())
    counted = {dict(labels)["reason"]: value for (name, labels), value in got.items()
               if name == "vapi_bridge_calls_total" and value}  # (the usual ones: at 0)
    for reason in ("customer-ended-call", "silence-timed-out", "connection-lost"):
        assert counted.get(reason) == 1, counted
    assert counted["other"] == 6, counted  # the masked one, and 5 past the 40
    assert len(counted) == 40 + 3 + 1, "still bounded"


def test_a_cost_vapi_says_after_the_call_ended_is_billed_in_the_metric() -> None:
    """A lost call's `ended` has no cost; the settler's `cost` event brings it later."""
    Host, metrics = metrics_on_a_bus()
    Host.events.publish("ended", reason="connection-lost", outcome="connection-lost",
                        seconds=80.0, cost=None)
    Host.events.publish("cost", call="1a2b3c4d", seconds=80.0, cost=0.0666)
    Host.events.publish("cost", call="1a2b3c4d", seconds=1.0, cost=float("inf"))
    got = samples(metrics.exposition()[0].decode())
    assert abs(got[("vapi_bridge_call_cost_dollars_total", ())] - 0.0666) < 1e-9


def test_every_error_cause_is_a_series_from_the_start() -> None:
    """Before, `vapi_bridge_call_errors_total{cause="network"}` appeared only with the first
    failure, at 1: Prometheus' `increase()` has no sample before it, so a fleet alert on
    `increase(vapi_bridge_call_errors_total[15m]) > 0` missed the first failure after
    every start of the daemon (operator helper)."""
    Host, metrics = metrics_on_a_bus()
    got = samples(metrics.exposition()[0].decode())
    causes = {dict(labels)["cause"]: value for (name, labels), value in got.items()
              if name == "vapi_bridge_call_errors_total"}
    assert causes == dict.fromkeys(("network", "vapi", "refused", "payment", "spending-limit",
                                    "device", "other"), 0.0)
    Host.events.publish("error", message="could not reach Vapi", cause="network")
    got = samples(metrics.exposition()[0].decode())
    assert got[("vapi_bridge_call_errors_total", (("cause", "network"),))] == 1


def test_the_usual_endings_are_series_from_the_start() -> None:
    """Before, `vapi_bridge_calls_total` had no series until a call ended that way: on a
    fresh daemon `sum by (outcome) (increase(vapi_bridge_calls_total[1h]))` was empty, and
    the first lost call after a (re)start was born at 1, no increase for `increase()`. Each
    common reason is there at 0 with the outcome the call's summary gives it, and each
    outcome has a series."""
    Host, metrics = metrics_on_a_bus()
    got = samples(metrics.exposition()[0].decode())
    calls = {(dict(labels)["reason"], dict(labels)["outcome"]): value
             for (name, labels), value in got.items() if name == "vapi_bridge_calls_total"}
    assert set(calls.values()) == {0.0}, calls
    for ending in (("customer-ended-call", "ok"), ("connection-lost", "connection-lost"),
                   ("worker-shutdown", "vapi-failed"), ("other", "device-failed"),
                   ("stopped", "not placed"), ("silence-timed-out", "ok")):
        assert ending in calls, calls
    Host.events.publish("ended", reason="connection-lost", outcome="connection-lost",
                        seconds=80.0)
    got = samples(metrics.exposition()[0].decode())
    assert got[("vapi_bridge_calls_total", (("outcome", "connection-lost"),
                                            ("reason", "connection-lost")))] == 1
    assert len([n for n, _ in got if n == "vapi_bridge_calls_total"]) == len(calls)


def test_names_follow_prometheus_conventions_and_no_created_series() -> None:
    """Every counter and histogram also exported a `_created` series (prometheus-client's
    default: the Unix time it was made, one more series per label set, 14 on a fresh
    daemon), which the text format gives Prometheus as a gauge of its own: noise in every
    query and dashboard (operator helper). Names: `vapi_bridge_`, a counter `_total`, a
    unit as a plural suffix (milliseconds)."""
    _, metrics = metrics_on_a_bus()
    for accept in ("", "application/openmetrics-text; version=1.0.0"):
        text = metrics.exposition(accept)[0].decode()
        assert "_created" not in text, text
    families = list(text_string_to_metric_families(metrics.exposition()[0].decode()))
    for family in families:
        assert family.name.startswith("vapi_bridge_"), family.name
        names = {s.name for s in family.samples}
        if family.type == "counter":
            assert names == {family.name + "_total"}, names  # (labelled: known ones at 0)
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
            assert names <= {family.name + x for x in ("_bucket", "_count", "_sum")}, names


def test_every_call_the_spending_limit_refuses_is_counted_once(
        start_sim, profiles: ProfileBuilder, start_web, tmp_path: Path) -> None:
    """A call asked for at the limit by the kiosk page (POST /call) or `ctl call` is refused
    at once, without an `error` event (no offline line for an operator's request): before,
    `vapi_bridge_call_errors_total{cause="spending-limit"}` stayed at 0 for them, and an
    alert on it missed a kiosk refusing its visitors. A visitor's trigger (SIGUSR1) is
    refused as the call is placed, with its event: counted once, not twice."""
    sim = start_sim(assistant="echo")
    port = free_port()
    short = tempfile.TemporaryDirectory(prefix="vbm-")  # (a Unix socket's path is short)
    sock = Path(short.name) / "ctl.sock"
    profile = web_profile(profiles, sim, port, call={"max_daily_minutes": 0})
    data = yaml.safe_load(profile.read_text())
    data["service"]["control_socket"] = str(sock)
    profile.write_text(yaml.safe_dump(data))
    daemon = start_web(profile, port, STATE_DIRECTORY=str(tmp_path / "state"))

    def refused() -> float:
        got = samples(daemon.get("/metrics").text)
        return got[("vapi_bridge_call_errors_total", (("cause", "spending-limit"),))]

    assert refused() == 0
    assert daemon.post("/call").status_code == 409
    assert refused() == 1, "the kiosk page's call, refused"
    ctl = subprocess.run(bridge_cmd("ctl", "--socket", str(sock), "call"), cwd=ROOT,
                         env=bridge_env(), capture_output=True, text=True, timeout=30)
    assert ctl.returncode == 1 and "spending limit reached" in ctl.stderr, ctl.stderr
    assert refused() == 2, "ctl call, refused"
    tap = EventTap(daemon.base + "/events")
    wait_for(lambda: any(e["event"] == "standby" for e in events_of(tap)), 20, "the replay")
    daemon.proc.send_signal(signal.SIGUSR1)  # a visitor's trigger
    error = wait_for(lambda: next((e for e in events_of(tap) if e["event"] == "error"), None),
                     20, "its refusal")
    wait_for(lambda: any(e["event"] == "standby" and e["seq"] > error["seq"]
                         for e in events_of(tap)), 20, "standby again")
    tap.close()
    assert refused() == 3, "the visitor's trigger, refused once"
    assert [e["cause"] for e in events_of(tap) if e["event"] == "error"] == ["spending-limit"]
    assert sim.calls() == []
    assert daemon.stop() == 0
    short.cleanup()


def test_a_call_the_cpu_could_not_keep_up_with_is_counted() -> None:
    """`calls_cpu_behind` and `loop_late_seconds` follow the summary's lateness: a call whose
    loop ran 600 ms late in 10 s (the summary says the CPU could not keep up) counts one and
    0.6 s; a later call that kept up adds nothing (the e2e call keeps up: 0 either way)."""
    from bridge.call.looplag import LoopLagStats
    from bridge.call.summary import CallSummary

    Host, metrics = metrics_on_a_bus()
    behind = LoopLagStats(holdups=3, late_ms=600.0, max_late_ms=310.0, seconds=10.0)
    assert behind.fell_behind
    for loop in (behind, LoopLagStats(holdups=1, late_ms=60.0, seconds=10.0)):
        Host.last_summary = CallSummary(call_id="c", ended_reason="customer-ended-call",
                                        duration_s=10.0, loop=loop)
        Host.events.publish("ended", reason="customer-ended-call", outcome="ok", seconds=10.0)
    got = samples(metrics.exposition()[0].decode())
    assert got[("vapi_bridge_calls_cpu_behind_total", ())] == 1
    assert round(got[("vapi_bridge_loop_late_seconds_total", ())], 3) == 0.66


def test_link_stalls_are_counted_from_zero() -> None:
    """A call's link stalling (nothing from Vapi, a ping unanswered: the `link-stalled`
    event the kiosk screen shows) had no series: a fleet could not see a kiosk whose
    Wi-Fi drops out mid-call. It counts each stall, at 0 from the start."""
    Host, metrics = metrics_on_a_bus()
    assert samples(metrics.exposition()[0].decode())[("vapi_bridge_link_stalls_total", ())] == 0
    for kind in ("link-stalled", "link-restored", "link-stalled"):
        Host.events.publish(kind, call="1a2b3c4d", seconds=8.0)
    got = samples(metrics.exposition()[0].decode())
    assert got[("vapi_bridge_link_stalls_total", ())] == 2


def test_the_bridges_own_endings_are_series_that_can_count() -> None:
    """`{reason="unknown",outcome="ok"}` was a series from the start that nothing could
    count (no call ends with that reason), while a call that ended with no reason said
    ("ended") or on a socket Vapi closed ("remote-closed") was born at 1, unseen by
    `increase()`. Those two are the series now."""
    Host, metrics = metrics_on_a_bus()
    got = samples(metrics.exposition()[0].decode())
    calls = {(dict(labels)["reason"], dict(labels)["outcome"]): value
             for (name, labels), value in got.items() if name == "vapi_bridge_calls_total"}
    assert "unknown" not in {reason for reason, _ in calls}, calls
    assert calls[("ended", "ok")] == calls[("remote-closed", "ok")] == 0, calls
    Host.events.publish("ended", reason="ended", outcome="ok", seconds=30.0)
    Host.events.publish("ended", outcome="ok", seconds=30.0)  # (none in the event: the same)
    got = samples(metrics.exposition()[0].decode())
    assert got[("vapi_bridge_calls_total", (("outcome", "ok"), ("reason", "ended")))] == 2


def state_of(metrics: Any) -> dict[str, float]:
    got = samples(metrics.exposition()[0].decode())
    return {dict(labels)["vapi_bridge_state"]: value for (name, labels), value in got.items()
            if name == "vapi_bridge_state"}


def test_the_wait_after_failed_calls_is_backoff_on_the_metric_and_the_state_line() -> None:
    """Loop mode while calls fail: a call that could not be placed (Vapi down, failing)
    left the kiosk's state `connecting` for the whole back-off (up to 5 minutes), and
    `vapi_bridge_state` with it: a dashboard could not tell a kiosk waiting to try again
    from one placing a call. The count-down publishes `backoff` (the wait, the failures in a
    row, the last error's cause); the state line (`ctl status`, STATUS=) says it backs off;
    the state names dashboards know stay."""
    host, metrics = metrics_on_a_bus()
    bus = host.events
    bus.publish(events.TRIGGERED, cause="loop")
    bus.publish(events.CONNECTING)
    bus.publish(events.ERROR, message="Vapi is failing (503)", cause="vapi", exit=5)
    assert state_of(metrics)["connecting"] == 1  # (as before: the call was being placed)
    lines: list[str] = []

    async def wait(delay: float) -> None:
        await asyncio.sleep(min(delay, 0.01))

    asyncio.run(count_down(0.3, lines.append, wait, asyncio.Event(), bus, failures=2))
    assert bus.state is not None and bus.state.kind == events.BACKOFF
    assert {k: bus.state.fields[k] for k in ("seconds", "failures", "cause")} == {
        "seconds": 0.3, "failures": 2, "cause": "vapi"}
    shown = state_of(metrics)
    assert shown["backoff"] == 1 and shown["connecting"] == 0, shown
    assert {"starting", "standby", "triggered", "connecting", "in-call", "ended"} <= set(shown)
    assert lines[0] == "next call in 1 s (backing off after 2 failed calls)", lines
    with bus.subscribe(lines=True) as screen:  # a screen opened during the wait
        first = screen.get_nowait()
        assert first is not None and first.kind == events.BACKOFF

    bus.publish(events.TRIGGERED, cause="loop")
    lines.clear()
    asyncio.run(count_down(0.05, lines.append, wait, asyncio.Event(), bus, 0))  # a call went
    assert bus.state.kind == events.TRIGGERED, "the usual pause after a call is no backoff"
    assert set(lines) == {"next call in 1 s"}


def test_the_last_good_call_has_no_series_until_one_ended() -> None:
    """A new profile (no call yet) read `vapi_bridge_last_ok_call_end_timestamp_seconds 0`:
    `time() - …` said 56 years and the README's alert fired on a kiosk just installed.
    Prometheus' way for a time not known yet is no series; a call stopped before it was up
    (0 s) is no good call either."""
    Host, metrics = metrics_on_a_bus()
    name = "vapi_bridge_last_ok_call_end_timestamp_seconds"
    assert name not in metrics.exposition()[0].decode()
    Host.events.publish("ended", reason="stopped-while-connecting", outcome="ok", seconds=0.0)
    assert name not in metrics.exposition()[0].decode()
    ended = Host.events.publish("ended", reason="customer-ended-call", outcome="ok",
                                seconds=12.0)
    for accept in ("", "application/openmetrics-text; version=1.0.0"):
        text = metrics.exposition(accept)[0].decode()
        assert f"# TYPE {name} gauge" in text, text
    assert samples(metrics.exposition()[0].decode())[(name, ())] == ended.at
