"""`vapi-bridge run … | head -1`: once stdout's reader has gone, the transcript and the
summary stop being printed and the call ends as it would have, with its own exit code —
through the real `vapi-bridge` process and the simulator."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.e2e.conftest import ROOT, ProfileBuilder, bridge_cmd, bridge_env

# partial lines ("all") for several words: more transcript lines after the first, then the
# summary, all written after the reader has gone
GREETING = {"firstMessage": "Hello there. Welcome to the front desk. How can I help you?",
            "maxDurationSeconds": 4}


def test_a_reader_that_goes_away_stops_the_printing_not_the_call(
        start_sim, profiles: ProfileBuilder) -> None:
    sim = start_sim(assistant="echo")
    profile = str(profiles.write(sim.base_url, assistant={"overrides": GREETING}))
    proc = subprocess.Popen(bridge_cmd("run", "-p", profile, "--set", "transcript.print=all"),
                            cwd=ROOT, env=bridge_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # as `head -1` does
        stderr = proc.stderr.read()
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert first.startswith("assistant: Hello"), first
    assert code == 0, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert "BrokenPipeError" not in stderr and " ERROR " not in stderr, stderr
    assert "ended (exceeded-max-duration)" in stderr, "the call ran to its normal end"
    assert stderr.count("stdout's reader went away") == 1, stderr


def test_a_stdout_that_cannot_be_written_stops_the_printing_not_the_call(
        start_sim, profiles: ProfileBuilder) -> None:
    """`run … >/dev/full`: every write fails (ENOSPC), not only once a reader is gone."""
    sim = start_sim(assistant="echo")
    profile = str(profiles.write(sim.base_url, assistant={"overrides": GREETING}))
    with open("/dev/full", "w") as full:
        done = subprocess.run(bridge_cmd("run", "-p", profile, "--set", "transcript.print=all"),
                              cwd=ROOT, env=bridge_env(), stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=60)
    stderr = done.stderr
    assert done.returncode == 0, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert "ended (exceeded-max-duration)" in stderr, "the call ran to its normal end"
    assert stderr.count("cannot write to stdout (No space left on device)") == 1, stderr


@pytest.mark.parametrize("command", [("init", "-"), ("unit",), ("ctl", "--help"), ("--help",),
                                     ("sim", "--help"), ("--version",)],
                         ids=["init", "unit", "ctl-help", "help", "sim-help", "version"])
def test_any_command_whose_reader_has_gone_ends_quietly(command: tuple[str, ...]) -> None:
    """`vapi-bridge ctl status | head -1` and the like: a reader gone before the output
    was written is no internal error (it was exit 1 with `BrokenPipeError` for every
    command but `run`, `ctl events` and `listen`)."""
    read, write = os.pipe()
    os.close(read)  # gone before anything is written: the first write fails, every time
    try:
        done = subprocess.run(bridge_cmd(*command), cwd=ROOT, env=bridge_env(), stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
