"""Calls in a row on one standby daemon: its speaker (here a `file:` output, clocked like a
device) stays open between calls, and each call must start with an empty playout and
count only its own underruns.

The real daemon, `ctl call` / `ctl end` / `ctl status`, the simulator over loopback; what
the speaker played is read back from the output WAV (valid after every block written).
"""

from __future__ import annotations

import json
import re
import signal
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tests.control.conftest import Daemon, control_profile, wait_for
from tests.e2e.conftest import ProfileBuilder
from tests.e2e.replies import speech_blocks
from tests.rig.signals import read_stereo

IDLE = "waiting for trigger"


def _status(daemon: Daemon) -> dict[str, Any]:
    return json.loads(daemon.ok("--json", "status"))


def _call_and_wait(daemon: Daemon, *, end_after: float | None = None) -> dict[str, Any]:
    """One call by `ctl call` (ended by `ctl end` after `end_after` s, else by the
    simulator), until the daemon waits again and its speaker has had 3 s to play out what
    was queued; the status then."""
    before = _status(daemon)["lastCall"]
    daemon.ok("call")
    if end_after is not None:
        wait_for(lambda: (_status(daemon)["call"] or {}).get("status") == "in-progress", 15,
                 "the call in progress")
        time.sleep(end_after)
        daemon.ok("end")

    wait_for(lambda: (s := _status(daemon))["state"] == IDLE and s["lastCall"] != before, 20,
             "the call's end")
    deadline = time.monotonic() + 3
    while (status := _status(daemon))["playout"]["depthMs"] and time.monotonic() < deadline:
        time.sleep(0.1)
    return status


def _frames(path: Path) -> int:
    with wave.open(str(path), "rb") as w:
        return w.getnframes()


def _tone_blocks(path: Path, hz: float, block: int = 320) -> np.ndarray:
    """Start frames of the blocks of the WAV that hold a tone of `hz` (a beep, not the
    near-silence around it)."""
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    n = len(x) // block
    blocks = x[:n * block].reshape(n, block)
    probe = np.exp(-2j * np.pi * hz * np.arange(block) / rate)
    amplitude = np.abs(blocks @ probe) * 2 / block
    return np.flatnonzero(amplitude > 3000) * block


def test_nothing_queued_in_one_call_plays_in_the_next(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    """A call that ends before its playout reached the start depth (here 1 s, the
    simulator ending each call after 0.8 s) left that audio queued for the next call,
    which played it first: the first call's beeps were heard inside the second. Now the
    end of a call plays out what is queued, and a new call starts with nothing queued."""
    first = start_sim(assistant="tone", tone_hz=700, tone_period_ms=300)
    second = start_sim(assistant="tone", tone_hz=1900, tone_period_ms=300)
    out = tmp_path / "speaker.wav"
    sections: dict[str, Any] = {"audio": {
        "input": "null", "output": f"file:{out}", "playout_start_ms": 1000,
        "playout_min_ms": 1000, "playout_max_ms": 1000}}
    overrides = {"maxDurationSeconds": 0.8}
    sock = short_dir / "ctl.sock"
    profile = control_profile(profiles, first, sock, overrides=overrides, **sections)
    daemon = start_daemon(profile)

    one = _call_and_wait(daemon)
    control_profile(profiles, second, sock, overrides=overrides, **sections)
    daemon.proc.send_signal(signal.SIGHUP)  # the next call goes to the second simulator
    time.sleep(0.5)  # applied at once while waiting (a reload waits only for a call)
    boundary = _frames(out)  # everything the speaker played before the second call
    two = _call_and_wait(daemon)
    assert len(first.calls()) == 1 and len(second.calls()) == 1, "one call on each"

    late = _tone_blocks(out, 700)
    late = late[late >= boundary]
    assert not late.size, "the first call's audio played during the second, from " \
        f"{(late[0] - boundary) / 16:.0f} ms after it was asked for"
    assert _tone_blocks(out, 700).size >= 4, "the first call's two beeps, played as it ended"
    assert (_tone_blocks(out, 1900) >= boundary).sum() >= 4, "the second call was heard"
    for status in (one, two):
        assert "exceeded-max-duration" in status["lastCall"]
        assert "0 audible underruns (0 in all)" in status["lastCall"], status["lastCall"]
        assert status["playout"]["depthMs"] == 0, "nothing left queued while waiting"
    assert daemon.stop() == 0, daemon.err


def test_each_call_in_standby_counts_only_its_own_underruns(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    """The walkthrough's standby kiosk: three calls in a row, each ended by `ctl end`.
    The summaries counted the speaker's underruns since the daemon started, the end of a
    call (its audio stopping) among them, and the next call began on what was left
    queued (~40 ms, held back forever, shown by `ctl status` while idle) without waiting
    for the start depth, running dry in its first words."""
    sim = start_sim(assistant="tone")
    out = tmp_path / "speaker.wav"
    profile = control_profile(
        profiles, sim, short_dir / "ctl.sock", overrides={"firstMessage": ""},
        audio={"input": "null", "output": f"file:{out}", "playout_start_ms": 150,
               "playout_min_ms": 150})  # a loaded test machine's stalls stay below it
    daemon = start_daemon(profile)
    lines = []
    idles = []
    for _ in range(3):
        status = _call_and_wait(daemon, end_after=2.0)
        lines.append(status["lastCall"])
        idles.append(daemon.ok("status").splitlines()[-1])
    assert all("customer-ended-call" in line for line in lines), lines
    assert all("0 audible underruns (0 in all)" in line for line in lines), lines
    assert all(line.startswith("playout 0 ms queued, 0 audible underruns (0 in all)")
               for line in idles), idles
    assert daemon.stop() == 0, daemon.err


def test_ctl_end_cuts_a_reply_sent_whole_and_the_next_call_starts_clean(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    """A 12 s reply sent whole (Vapi may send faster than real time), the call ended with
    `ctl end` after 1 s: the speaker stops at once (it played on for the rest of the reply,
    ~11 s, until the next call began), and the next call plays its own audio only. Times
    are the speaker's own frames (a `file:` output clocked like a device)."""
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump([{"tone": 700, "ms": 12000, "wait": False}]))
    first = start_sim(assistant=f"script:{script}", downlink_speed=float("inf"))
    second = start_sim(assistant="tone", tone_hz=1900, tone_period_ms=300)
    out = tmp_path / "speaker.wav"
    sections: dict[str, Any] = {"audio": {"input": "null", "output": f"file:{out}"}}
    sock = short_dir / "ctl.sock"
    service = {"mode": "standby", "control_socket": str(sock)}
    daemon = start_daemon(profiles.write(first.base_url, service=service,  # the script's
                                         assistant={"overrides": {}}, **sections))  # opening

    daemon.ok("call")
    wait_for(lambda: (_status(daemon)["call"] or {}).get("status") == "in-progress", 15,
             "the call in progress")
    wait_for(lambda: _tone_blocks(out, 700).size >= 25, 15, "the reply playing")
    daemon.ok("end")
    ended_at = _frames(out)  # the cut was asked for before `ctl end` answered
    wait_for(lambda: _status(daemon)["state"] == IDLE, 20, "the call's end")
    time.sleep(1.0)  # the speaker goes on, clocked: 1 s more of whatever it plays
    reply = _tone_blocks(out, 700)
    late = reply[reply >= ended_at + 2 * 320]  # a block may be pulled as the fade ends
    assert not late.size, f"the reply played on for {(late[-1] - ended_at) / 16:.0f} ms " \
        "after `ctl end` answered"
    status = _status(daemon)
    assert "customer-ended-call" in status["lastCall"], status["lastCall"]
    assert status["playout"]["depthMs"] == 0, "nothing of the reply left queued"

    control_profile(profiles, second, sock, **sections)
    daemon.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    boundary = _frames(out)
    _call_and_wait(daemon, end_after=2.0)
    assert len(first.calls()) == 1 and len(second.calls()) == 1, "one call on each"
    assert not (_tone_blocks(out, 700) >= boundary).any(), "the first reply in the second call"
    assert (_tone_blocks(out, 1900) >= boundary).sum() >= 4, "the second call was heard"
    assert daemon.stop() == 0, daemon.err
    cut = re.search(r"call \w+: ending; (\d+\.\d) s of the assistant's audio cut", daemon.err)
    assert cut and float(cut[1]) >= 5, daemon.err  # most of the 12 s, however slow `ctl` was


def test_a_loop_plays_the_goodbye_before_it_calls_again(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    """A loop daemon with no pause between calls; each call is the assistant's 3 s
    goodbye (its endCall), sent whole: Vapi ends the call 0.3 s later. The next call began
    at once and dropped the rest of the goodbye; now it waits until the speaker (a `file:`
    output clocked like a device) has played it."""
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump([{"tone": 700, "ms": 3000, "wait": False,
                                       "endCall": True}]))
    sim = start_sim(assistant=f"script:{script}", downlink_speed=float("inf"))
    out = tmp_path / "speaker.wav"
    service = {"mode": "loop", "loop_delay_seconds": 0,
               "control_socket": str(short_dir / "ctl.sock")}
    daemon = start_daemon(profiles.write(sim.base_url, service=service,
                                         assistant={"overrides": {}},
                                         audio={"input": "null", "output": f"file:{out}"}))
    wait_for(lambda: len(sim.calls()) >= 2, 30, "the loop's second call")
    assert daemon.stop() == 0, daemon.err
    run = _first_run(out, 700)
    assert len(run) * 0.02 >= 2.9, f"the first goodbye: {len(run) * 0.02:.2f} s of 3 s heard"


def _recorded_goodbye_kiosk(start_sim: Callable[..., Any], profiles: ProfileBuilder,
                            short_dir: Path, tmp_path: Path
                            ) -> tuple[Any, Callable[[Path], Path]]:
    """A simulator whose every call is the assistant's 8 s goodbye (a tone) sent whole with
    its endCall, and a profile writer for a standby kiosk recording to `tmp_path/rec`, its
    speaker the `file:` output given."""
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump([{"tone": 700, "ms": 8000, "wait": False,
                                       "endCall": True}]))
    sim = start_sim(assistant=f"script:{script}", downlink_speed=float("inf"))
    service = {"mode": "standby", "control_socket": str(short_dir / "ctl.sock")}

    def profile(output: Path) -> Path:
        return profiles.write(sim.base_url, service=service, assistant={"overrides": {}},
                              audio={"input": "null", "output": f"file:{output}"},
                              record={"path": str(tmp_path / "rec" / "{call_id}")})

    return sim, profile


def _goodbye_playing_out(sim: Any, daemon: Daemon) -> dict[str, Any]:
    """Once the call is over (the simulator ended it, the daemon closed it) while its
    goodbye still plays out: the simulator's record of the call."""
    call = wait_for(lambda: [c for c in sim.calls() if c.get("endedReason")], 20,
                    "the goodbye's end of the call")[0]
    wait_for(lambda: (_status(daemon)["call"] or {}).get("live") is False, 15,
             "the daemon to close the call")
    return call


def _first_run(path: Path, hz: float) -> np.ndarray:
    """Start frames of the blocks of the first unbroken run of a tone of `hz` in the WAV."""
    starts = _tone_blocks(path, hz)
    return np.split(starts, np.flatnonzero(np.diff(starts) > 320) + 1)[0]


def test_ctl_call_while_a_recorded_goodbye_plays_out_places_the_next_call(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    """A standby kiosk that records; the assistant's 8 s goodbye sent whole (its endCall),
    so the speaker plays it out, and the recorder records it, after the call has ended.
    `ctl call` (SIGUSR1, the page's button) was refused meanwhile, "a call is already in
    progress", for as long as the goodbye lasted. Now the goodbye fades (on the speaker and
    in the recording) and the next call is placed. Speaker times are its own frames (a
    `file:` output clocked like a device)."""
    sim, profile = _recorded_goodbye_kiosk(start_sim, profiles, short_dir, tmp_path)
    out, rec = tmp_path / "speaker.wav", tmp_path / "rec"
    daemon = start_daemon(profile(out))
    daemon.ok("call")
    first = _goodbye_playing_out(sim, daemon)
    daemon.ok("call")
    asked = _frames(out)
    wait_for(lambda: len(sim.calls()) >= 2, 15, "the call asked for during the goodbye")
    assert daemon.stop() == 0, daemon.err

    heard = _first_run(out, 700)
    assert len(heard) * 0.02 < 7, "asked for while the goodbye played, which faded"
    assert heard[-1] <= asked + 2 * 320, f"the goodbye played on for " \
        f"{(heard[-1] - asked) / 16:.0f} ms after the next call was asked for"
    stereo, rate = read_stereo(rec / f"{first['id']}.wav")
    recorded_s = speech_blocks(stereo[:, 1], rate).sum() / 100
    print(f"\ngoodbye 8 s; next call asked after {asked / 16000:.2f} s of speaker; first "
          f"goodbye heard {len(heard) * 0.02:.2f} s, recorded {recorded_s:.2f} s")
    assert abs(recorded_s - len(heard) * 0.02) <= 0.1, "the recording ends where the speaker did"
    ended = json.loads((rec / f"{first['id']}.jsonl").read_text().splitlines()[-1])
    assert ended["ended"]["endedReason"] == "assistant-ended-call", ended


def test_a_reload_while_a_recorded_goodbye_plays_out_waits_for_it(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    """SIGHUP (an operator's reload, here one that moves the speaker to another output)
    while a standby kiosk plays out, and records, the assistant's 8 s goodbye sent whole.
    The reload was applied at once, as between calls: it closed the speaker (and the API
    client the call's summary reads) under the goodbye, whose recording ended ~2 s short.
    It now waits for the goodbye, as it waits for the call."""
    sim, profile = _recorded_goodbye_kiosk(start_sim, profiles, short_dir, tmp_path)
    out, rec = tmp_path / "speaker.wav", tmp_path / "rec"
    daemon = start_daemon(profile(out))
    daemon.ok("call")
    first = _goodbye_playing_out(sim, daemon)
    profile(tmp_path / "after.wav")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: _status(daemon)["state"] == IDLE, 20, "the call's end")  # reloaded by then
    assert daemon.stop() == 0, daemon.err

    heard = _tone_blocks(out, 700)
    stereo, rate = read_stereo(rec / f"{first['id']}.wav")
    recorded_s = speech_blocks(stereo[:, 1], rate).sum() / 100
    print(f"\ngoodbye 8 s, reloaded as it played out: heard {len(heard) * 0.02:.2f} "
          f"s, recorded {recorded_s:.2f} s")
    assert "the profile is read again after the current call" in daemon.err, daemon.err
    assert len(heard) * 0.02 >= 7.8, "the goodbye was heard whole, then the reload"
    assert recorded_s >= 7.8, "and recorded whole"
    finished, reloaded = daemon.err.find("recording finished"), daemon.err.find("profile reloaded")
    assert 0 <= finished < reloaded, "the reload applied once the goodbye was recorded"


def test_ctl_call_that_is_over_before_it_is_seen_was_still_placed(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    """A call whose assistant says a short goodbye at once, sent whole, and ends it (Vapi
    may end a call as soon as the line is sent): connected and over within ctl's first
    look. `ctl call` said "the call could not be placed (assistant-ended-call)", exit 1,
    about a call that was placed, spoke and ended as its assistant meant."""
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump([{"tone": 700, "ms": 100, "wait": False,
                                       "endCall": True}]))
    sim = start_sim(assistant=f"script:{script}", downlink_speed=float("inf"))
    service = {"mode": "standby", "control_socket": str(short_dir / "ctl.sock")}
    daemon = start_daemon(profiles.write(sim.base_url, service=service,
                                         assistant={"overrides": {}},
                                         audio={"input": "null", "output": "null"}))
    said = []
    for n in range(1, 4):
        said.append(daemon.ok("call").strip())
        wait_for(lambda n=n: len([c for c in sim.calls() if c.get("endedReason")]) >= n, 20,
                 f"call {n} over")
        wait_for(lambda: (_status(daemon)["call"] or {}).get("live") is False, 15,
                 "the daemon to close it")
    assert daemon.stop() == 0, daemon.err
    for line in said:
        assert re.fullmatch(r"call \w{8} started( and has ended \(assistant-ended-call\))?",
                            line), said
