"""`vapi-bridge … > /dev/full` (a full disk, an I/O error on stdout): one line naming it,
exit 2 — not an internal error, and not exit 0 with nothing written. A reader that went
away (`| head`) stays exit 0 (test_closed_stdout.py)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.e2e.conftest import ROOT, bridge_cmd, bridge_env

FULL = ("vapi-bridge: cannot write the output: No space left on device — free space, or "
        "send the output elsewhere")
COMMANDS = [("init", "-"), ("unit",), ("--help",), ("--version",), ("ctl", "--help"),
            ("init", "--help"), ("sim", "--help"), ("-q", "sim", "--help")]


def to_full(*command: str) -> subprocess.CompletedProcess[str]:
    with open("/dev/full", "w") as full:
        return subprocess.run(bridge_cmd(*command), cwd=ROOT, env=bridge_env(), stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_full_stdout_is_one_line_and_exit_2(command: tuple[str, ...]) -> None:
    done = to_full(*command)
    assert (done.returncode, done.stderr.strip()) == (2, FULL), done.stderr


def test_the_simulator_whose_stdout_is_full_says_so_not_cannot_listen() -> None:
    done = to_full("sim", "--port", "0")
    assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (2, FULL), done.stderr
    assert "cannot listen" not in done.stderr, done.stderr


@pytest.mark.parametrize("command", [("ctl", "--socket", "/nonexistent/x.sock", "status"),
                                     ("init", "-")], ids=["ctl", "init"])
def test_a_closed_stdout_is_no_internal_error(command: tuple[str, ...]) -> None:
    """Started with stdout closed (`>&-`: Python's sys.stdout is None): said as a full
    stdout is (exit 2) when there is output to write, else the command's own outcome; no
    traceback (the check of a full stdout flushed None, `init -` wrote to None)."""
    done = subprocess.run(bridge_cmd(*command), cwd=ROOT, env=bridge_env(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=60, preexec_fn=lambda: os.close(1))
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    if command[0] == "ctl":  # nothing reached stdout: the refusal, on stderr
        assert done.returncode == 5, done.stderr
    else:
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().endswith("cannot write the output: standard output is "
                                            "closed — free space, or send the output "
                                            "elsewhere"), done.stderr
