"""A reload the running daemon cannot take on. Turning it to `once` mode left it waiting,
placing no call and refusing every reload after ("the daemon is in once mode"): only a
restart helped. Moving its control socket was taken silently while the old one stayed
open, so `ctl -p NAME` found no daemon and a second one could start on the profile. The
daemon then ran the moved value as if taken: a reload again said nothing of the move still
not made, and one back to the open socket warned that the daemon kept the moved one."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import yaml

from tests.control.conftest import control_profile, wait_for
from tests.e2e.conftest import ProfileBuilder


def edit(profile: Path, section: str, **values: object) -> None:
    data = yaml.safe_load(profile.read_text())
    data.setdefault(section, {}).update(values)
    profile.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.timeout(90)
def test_a_reload_to_once_mode_or_another_socket_keeps_the_daemon_usable(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    sim = start_sim(assistant="echo")
    profile = control_profile(profiles, sim, short_dir / "ctl.sock")
    daemon = start_daemon(profile)
    wait_for(lambda: daemon.ctl("status").returncode == 0, 10, "the daemon to answer")

    edit(profile, "service", mode="once")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in daemon.ok("status"), 10, "status to say the refusal")
    assert "(standby mode)" in daemon.ok("status"), "the old profile is kept"

    edit(profile, "service", mode="standby", control_socket=str(short_dir / "moved.sock"))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" not in daemon.ok("status"), 10, "the reload taken")
    assert not (short_dir / "moved.sock").exists()
    daemon.proc.send_signal(signal.SIGHUP)  # again, the socket still moved: said again
    assert daemon.ctl("status").returncode == 0
    edit(profile, "service", control_socket=str(short_dir / "ctl.sock"))
    daemon.proc.send_signal(signal.SIGHUP)  # back to the socket it has: nothing to say
    called = daemon.ctl("call")  # still standby, still on its socket: a call is placed
    assert called.returncode == 0 and "started" in called.stdout, called.stderr
    assert daemon.ctl("end").returncode == 0
    assert daemon.stop() == 0
    assert "reload refused, keeping the old profile: service.mode once" in daemon.err
    kept = f"which takes a restart: the daemon keeps {short_dir / 'ctl.sock'} until then"
    assert daemon.err.count(kept) == 2, daemon.err
    assert f"keeps {short_dir / 'moved.sock'}" not in daemon.err, daemon.err
    assert len(sim.calls()) == 1
