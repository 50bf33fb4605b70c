"""An operator silencing the assistant: `ctl mute-assistant` and `ctl say
--interrupt-assistant`. Vapi sends no event for either, and sends audio faster than real
time when it can, so the kiosk had seconds of the old line queued: the visitor heard 4.6–5.8
s of it after the command (schema helper, a reply sent whole). Now what is queued is
dropped (faded) once Vapi took the command, and while the assistant is muted what still
arrives is not played. Times are the speaker's own frames (a `file:` output clocked like a
device)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.control.conftest import Daemon, wait_for
from tests.control.test_standby_playout import _frames, _status, _tone_blocks
from tests.e2e.conftest import ProfileBuilder

BLOCK = 320  # frames of 16 kHz in `_tone_blocks`' blocks
OLD_HZ = 2900  # the old line: a tone no word of the simulator's new one comes near


def _playing(start_sim: Any, start_daemon: Any, profiles: ProfileBuilder, short_dir: Path,
             tmp_path: Path, via: str, overrides: dict[str, Any]) -> tuple[Daemon, Path]:
    """A standby daemon (commands sent `via`) in a call whose 12 s line Vapi sent whole,
    playing on a clocked `file:` speaker (returned)."""
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump([{"tone": OLD_HZ, "ms": 12000, "wait": False}]))
    sim = start_sim(assistant=f"script:{script}", downlink_speed=float("inf"))
    out = tmp_path / "speaker.wav"
    service = {"mode": "standby", "control_socket": str(short_dir / "ctl.sock")}
    daemon = start_daemon(profiles.write(
        sim.base_url, service=service, assistant={"overrides": overrides},
        call={"commands_via": via}, audio={"input": "null", "output": f"file:{out}"}))
    daemon.ok("call")
    wait_for(lambda: _tone_blocks(out, OLD_HZ).size >= 25, 15, "the reply playing")
    return daemon, out


@pytest.mark.parametrize(("command", "via"), [
    (("mute-assistant",), "socket"),
    (("say", "--interrupt-assistant", "Sorry to cut in."), "socket"),
    (("say", "--interrupt-assistant", "Sorry to cut in."), "control-url")])
def test_an_operator_command_that_silences_the_assistant_cuts_what_is_queued(
        command: tuple[str, ...], via: str, start_sim, profiles: ProfileBuilder,
        short_dir: Path, tmp_path: Path, start_daemon) -> None:
    daemon, out = _playing(start_sim, start_daemon, profiles, short_dir, tmp_path, via, {})
    assert _status(daemon)["playout"]["depthMs"] > 5000, "the reply is queued, sent whole"
    said = daemon.ok(*command)
    answered_at = _frames(out)  # the cut was made before the command was answered
    wait_for(lambda: _frames(out) > answered_at + 16000, 15, "1 s more of the speaker")
    reply = _tone_blocks(out, OLD_HZ)
    late = reply[reply >= answered_at + 2 * BLOCK]  # a block may be pulled as the fade ends
    assert not late.size, f"the old line played on for {(late[-1] - answered_at) / 16:.0f} " \
        f"ms after `ctl {command[0]}` answered ({said})"
    daemon.ok("end")
    assert daemon.stop() == 0, daemon.err
    assert "dropped" in daemon.err and "still queued" in daemon.err, daemon.err


def test_a_mute_the_control_url_refuses_leaves_the_assistant_heard(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    """A controlUrl that wants the public key the profile does not send (401): `ctl
    mute-assistant` says it was refused, and the speaker goes on playing the assistant, as
    Vapi does (the cut once came before the POST's answer: reread helper)."""
    daemon, out = _playing(start_sim, start_daemon, profiles, short_dir, tmp_path,
                           "control-url", {"monitorPlan": {"controlAuthenticationEnabled": True}})
    refused = daemon.ctl("mute-assistant")
    assert refused.returncode != 0 and "401" in refused.stderr, refused.stderr
    answered_at = _frames(out)
    wait_for(lambda: _frames(out) > answered_at + 16000, 15, "1 s more of the speaker")
    heard = _tone_blocks(out, OLD_HZ)
    assert (heard >= answered_at).sum() >= 40, "the assistant went on being heard"
    daemon.ok("end")
    assert daemon.stop() == 0, daemon.err
