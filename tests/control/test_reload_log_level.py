"""What a reload (`systemctl reload`) takes and what waits for a restart, said. `log.level`
was read only at start: an operator who set `debug` to see a fault and reloaded got
"profile reloaded" and no debug line, with nothing saying the key waited for a restart. An
`http.token_env` added by a reload was not taken either, silently: the screen went on
answering without the token (fleet probe). -v/-q on the command line keep their level."""

from __future__ import annotations

import signal
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from tests.control.conftest import control_profile
from tests.control.test_reload_guards import edit
from tests.e2e.conftest import ProfileBuilder

DEBUG_LINE = "control: status → ok"  # logged at debug for every control request
TOKEN = "t" * 32


@pytest.mark.timeout(60)
def test_a_reload_takes_log_level_and_says_what_waits_for_a_restart(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    sim = start_sim(assistant="echo")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        listen = f"127.0.0.1:{probe.getsockname()[1]}"
    profile = control_profile(profiles, sim, short_dir / "ctl.sock", log={"level": "info"},
                              http={"listen": listen})
    daemon = start_daemon(profile, KIOSK_TOKEN=TOKEN)
    daemon.ok("status")
    edit(profile, "log", level="debug")
    edit(profile, "http", token_env="KIOSK_TOKEN")
    daemon.proc.send_signal(signal.SIGHUP)
    for _ in range(3):  # the reload is taken within milliseconds: these come after it
        time.sleep(0.3)
        assert "reload failed" not in daemon.ok("status")
    with urllib.request.urlopen(f"http://{listen}/state", timeout=10) as answer:
        assert answer.status == 200, "the token waits for a restart, as the reload says"
    assert daemon.stop() == 0
    before, after = daemon.err.split("profile reloaded", 1)
    assert DEBUG_LINE not in before, "info level logged a debug line"
    assert DEBUG_LINE in after, f"debug not taken on reload:\n{daemon.err}"
    assert "reload: log.level is now debug" in before
    assert ("reload: http.token_env changed to KIOSK_TOKEN, which takes a restart: the daemon "
            "keeps it off until then") in before
