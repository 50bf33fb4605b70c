"""Ctrl-C before `run` has placed its call: it exits 0, as any stop does, and said only
"SIGINT: stopping" — a new user who pressed it as the daemon started could not tell
whether a call had gone out (and would be billed). The line says none was."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.control.conftest import ProfileBuilder


def test_sigint_before_any_call_says_no_call_was_placed(
        profiles: ProfileBuilder, short_dir: Path, start_daemon, tmp_path: Path) -> None:
    """The moment in `once` mode lasts a fraction of a second (the daemon's start-up, up to
    the call's creation); a `loop` daemon whose spending limit is reached stays in it (no
    call is created), so the signal lands there for sure: the same daemon, the same stop."""
    sock = short_dir / "ctl.sock"
    profile = profiles.write("http://127.0.0.1:9", call={"max_daily_minutes": 0},
                             service={"mode": "loop", "control_socket": str(sock)})
    daemon = start_daemon(profile, STATE_DIRECTORY=str(tmp_path))  # (its signals are set)
    daemon.proc.send_signal(signal.SIGINT)
    _, err = daemon.proc.communicate(timeout=20)
    assert daemon.proc.returncode == 0, err
    assert "INFO    SIGINT: stopping — no call was placed\n" in err, err
