"""`vapi-bridge … > /dev/full` (a full disk, an I/O error on stdout): one line naming it,
exit 2 — not an internal error, and not exit 0 with nothing written. A reader that went
away (`| head`) stays exit 0 (test_closed_stdout.py)."""

from __future__ import annotations

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
