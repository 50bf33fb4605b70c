"""Disk and recording faults through the real `vapi-bridge run` process.

A recording that cannot be made is a profile error found before any call is created (no
call is left open on Vapi); a disk that fills during the call stops the recording with one
warning, keeps what was written valid, lets the call go on to its normal end, and the
summary says the recording is incomplete. The full disk is real: a tiny tmpfs mounted in a
private mount namespace (`unshare`; as root, or in a user namespace where allowed), and
/dev/full for the transcript.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bridge.errors import ProfileError
from bridge.profile import load_profile
from tests.e2e.conftest import ROOT, bridge_cmd
from tests.faults.harness import (
    Daemon,
    Result,
    Sim,
    assert_clean,
    case_dir,
    check_recording,
    env,
    one_line_error,
    run_once,
    write_profile,
)

pytestmark = pytest.mark.timeout(120)
NORMAL_END = "ended: exceeded-max-duration after"


def no_call_was_created(sim: Sim) -> None:
    assert sim.get("/_sim/calls")["calls"] == [], "no call may be created (it would cost)"


@pytest.mark.parametrize("mode", ["once", "loop"])
def test_a_record_directory_that_cannot_be_made_is_found_before_the_call(mode: str) -> None:
    with Sim() as sim, case_dir() as d:
        (d / "blocker").write_text("a file where a directory should be\n")
        profile = write_profile(d, sim.base_url, record={"path": str(d / "blocker/rec-{call_id}")},
                                service={"mode": mode})
        result = run_once(profile)
        no_call_was_created(sim)
    assert result.code == 2, result.err
    assert_clean(result)
    one_line_error(result, f"record.path: cannot write recordings in {d / 'blocker'}")


def test_a_daemon_whose_record_directory_goes_missing_skips_the_call_and_carries_on() -> None:
    """Found at start it is a profile error; once the daemon runs, a call that could not be
    recorded is not placed (logged, backed off) and the daemon keeps going."""
    with Sim() as sim, case_dir() as d:
        recs = d / "recs"
        profile = write_profile(d, sim.base_url, record={"path": str(recs / "rec-{call_id}")},
                                service={"mode": "loop"},
                                assistant={"overrides": {"maxDurationSeconds": 1}})
        daemon = Daemon(profile, d)
        try:
            daemon.wait_err("recording to ")
            shutil.rmtree(recs)
            recs.write_text("a file where the directory was\n")
            daemon.wait_err(f"record.path: cannot write recordings in {recs}", timeout=30)
            calls = len(sim.calls())
            daemon.notify.wait_for("STATUS=kiosk: next call in", count=2)
            assert daemon.alive()
            recs.unlink()
            daemon.notify.wait_for("STATUS=kiosk: calling", count=4, timeout=30)
            deadline = time.monotonic() + 20
            while len(sim.calls()) <= calls and time.monotonic() < deadline:
                time.sleep(0.1)
            result = daemon.stop()
            resumed = len(sim.calls())
        finally:
            daemon.close()
    assert resumed > calls, "calls resumed once the directory could be made again"
    assert result.code == 0, result.err
    assert_clean(result)
    assert calls == 1, "no call was created while the recording could not be made"


def test_a_record_directory_named_by_the_call_is_checked_through_its_parents() -> None:
    with Sim() as sim, case_dir() as d:
        (d / "blocker").write_text("x\n")
        profile = write_profile(d, sim.base_url,
                                record={"path": str(d / "blocker/{call_id}/rec")})
        result = run_once(profile)
        no_call_was_created(sim)
    assert result.code == 2
    one_line_error(result, f"({d / 'blocker'} is a file, not a directory)")


PLACEHOLDERS = [
    ("rec/{call_id.short}", "record.path: unknown placeholder {call_id.short}; use {call_id}"),
    ("rec/{callid}", "record.path: unknown placeholder {callid}"),
    ("rec/{call_id!r}", "record.path: unknown placeholder {call_id!r}"),
    ("rec/{call_id:>40}", "record.path: unknown placeholder {call_id:>40}"),
    ("rec/{}", "record.path: unknown placeholder {}"),
    ("rec/{call_id", "record.path: malformed placeholder (expected '}' before end of string)"),
    ("rec/call_id}", "record.path: malformed placeholder (Single '}' encountered"),
]


@pytest.mark.parametrize(("template", "words"), PLACEHOLDERS)
def test_an_unknown_or_malformed_placeholder_is_a_profile_error(template: str,
                                                                words: str) -> None:
    """The first through `run`: one line, exit 2, no call created. The others differ only
    in the words of the profile's error, which `run` prints as it is (that first case):
    they are read from the profile loader in this process (a `run` process and a
    simulator each cost ~1 s of CPU)."""
    through_run = template == PLACEHOLDERS[0][0]
    with case_dir() as d, Sim() if through_run else contextlib.nullcontext() as sim:
        profile = write_profile(d, sim.base_url if sim else "http://127.0.0.1:9",
                                record={"path": template})
        line = next(n for n, text in enumerate(profile.read_text().splitlines(), 1)
                    if text.strip().startswith("path:") and "rec/" in text)
        if sim is None:
            with pytest.raises(ProfileError) as refused:
                load_profile(str(profile))
            said = str(refused.value)
            assert f"{profile}:{line}: {words}" in said and "\n" not in said, said
            return
        result = run_once(profile)
        no_call_was_created(sim)
    assert result.code == 2
    assert_clean(result)
    one_line_error(result, f"{profile}:{line}: {words}")


def test_literal_braces_are_allowed_in_record_path() -> None:
    with Sim() as sim, case_dir() as d:
        profile = write_profile(d, sim.base_url, record={"path": str(d / "rec-{{x}}-{call_id}")})
        result = run_once(profile)
    assert result.code == 0, result.err
    assert "rec-{x}-" in result.err  # "recording to …" names the file


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_a_profile_saved_as_utf16_gets_one_line(encoding: str) -> None:
    with case_dir() as d:
        profile = d / "kiosk.yaml"
        profile.write_text("assistant:\n  id: echo\n", encoding=encoding)
        result = run_once(profile)
    assert result.code == 2
    assert len(result.clean_err.strip().splitlines()) == 1, result.err
    one_line_error(result, "as UTF-8")


# ---- a disk that fills during the call ------------------------------------------------
def can_mount_tmpfs() -> list[str] | None:
    """The unshare prefix that can mount a tmpfs here, or None."""
    probe = "mount -t tmpfs -o size=64k tmpfs /mnt && umount /mnt"
    for prefix in (["unshare", "-m"], ["unshare", "-Urm"]):
        if shutil.which("unshare") is None:
            return None
        done = subprocess.run([*prefix, "sh", "-c", probe], capture_output=True, check=False)
        if done.returncode == 0:
            return prefix
    return None


def run_on_small_disk(profile: Path, disk: Path, keep: Path, size_kb: int,
                      prefix: list[str]) -> Result:
    """`run` with `disk` a fresh tmpfs of `size_kb` in a private mount namespace; what it
    held is copied to `keep` after (the namespace goes with the process)."""
    script = (f"mount -t tmpfs -o size={size_kb}k tmpfs {shlex.quote(str(disk))} || exit 99\n"
              f"{shlex.join(bridge_cmd('run', '--profile', str(profile)))}\n"
              f"rc=$?\ncp -a {shlex.quote(str(disk))}/. {shlex.quote(str(keep))}/\nexit $rc\n")
    started = time.monotonic()
    proc = subprocess.run([*prefix, "sh", "-c", script], cwd=ROOT, env=env(),
                          capture_output=True, text=True, timeout=90, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def test_a_disk_filling_during_the_call_stops_the_recording_not_the_call() -> None:
    prefix = can_mount_tmpfs()
    if prefix is None:
        pytest.skip("cannot mount a tmpfs here (needs root or user namespaces)")
    with Sim() as sim, case_dir() as d:
        disk, keep = d / "disk", d / "keep"
        disk.mkdir()
        keep.mkdir()
        profile = write_profile(d, sim.base_url, record={"path": str(disk / "rec")},
                                assistant={"overrides": {"maxDurationSeconds": 5}})
        result = run_on_small_disk(profile, disk, keep, 96, prefix)
        (report,) = sim.calls()
        rec = check_recording(keep / "rec.wav")  # valid: the header agrees with the data kept
    assert result.code == 0, result.err
    assert_clean(result)
    warnings = [line for line in result.err.splitlines() if "recording stopped" in line]
    assert len(warnings) == 1, result.err
    assert warnings[0][9:] == (f"WARNING recording stopped: cannot write {disk / 'rec.wav'} "
                               f"(No space left on device); the call goes on, what was "
                               f"recorded so far is kept"), result.err
    assert "connection lost" not in result.printed
    assert report["endedReason"] == "exceeded-max-duration", "the call went on to its end"
    summary = [line for line in result.out.splitlines() if " ended: " in line]
    assert len(summary) == 1 and NORMAL_END in summary[0], result.out
    assert summary[0].endswith(f"; recording incomplete ({disk / 'rec.wav'}: No space left "
                               f"on device)"), summary[0]
    assert 0.3 < rec.seconds < 2.0, f"{rec.seconds:.2f} s: what fitted in 96 kB was kept"
    assert rec.ended is None, "nothing more was written once the recording stopped"


def test_a_transcript_that_cannot_be_written_stops_the_recording_not_the_call() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with Sim() as sim, case_dir() as d:
        (d / "rec.jsonl").symlink_to("/dev/full")
        profile = write_profile(d, sim.base_url, record={"path": str(d / "rec")})
        result = run_once(profile)
    assert result.code == 0, result.err
    assert_clean(result)
    assert "assistant: Hello." in result.out, "the visitor still heard and saw the reply"
    assert result.err.count("recording stopped") == 1
    assert f"recording stopped: cannot write {d / 'rec.jsonl'} (No space left on device)" \
        in result.err
    assert f"recording incomplete ({d / 'rec.jsonl'}: No space left on device)" in result.out


def test_the_check_leaves_no_directory_behind_when_the_directory_names_the_call() -> None:
    with Sim() as sim, case_dir() as d:
        profile = write_profile(d, sim.base_url,
                                record={"path": str(d / "rec/{started}/{call_id}/call")})
        result = run_once(profile)
        (call,) = sim.calls()
        made = sorted(p.relative_to(d / "rec") for p in (d / "rec").rglob("*") if p.is_dir())
    assert result.code == 0, result.err
    assert len(made) == 2 and made[1].name == call["id"], made
