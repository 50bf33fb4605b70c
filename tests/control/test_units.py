"""Small pieces: ctl request building, the listen player's mix, verify's decision."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from bridge.cli.arguments import build_parser
from bridge.cli.ctl import COMMANDS, build_request
from bridge.cli.listen import mix_to_mono
from bridge.cli.listen_verify import ChannelMatch, best_lag, blockwise, decide
from bridge.control.client import find_socket
from bridge.control.commands import HANDLERS
from bridge.control.request import FIELDS
from bridge.errors import NoDaemon


@pytest.mark.parametrize(("argv", "request_"), [
    (["say", "Hi", "--end-after", "--no-interrupt"],
     {"cmd": "say", "text": "Hi", "end_after": True, "interruptions": False,
      "interrupt_assistant": False}),
    (["add-message", "Note", "--role", "user", "--no-response"],
     {"cmd": "add-message", "text": "Note", "role": "user", "trigger_response": False}),
    (["transfer", "sip:desk@example.com"],
     {"cmd": "transfer", "destination": "sip:desk@example.com", "message": None,
      "extension": None}),
    (["handoff", "a1", "--context", "none"],
     {"cmd": "handoff", "assistant_id": "a1", "context": "none", "message": None}),
    (["say", "Hi"],
     {"cmd": "say", "text": "Hi", "end_after": False, "interruptions": True,
      "interrupt_assistant": False}),
    (["add-message", "Note"],
     {"cmd": "add-message", "text": "Note", "role": "system", "trigger_response": True}),
    (["handoff", "a1", "--message", "Hello"],
     {"cmd": "handoff", "assistant_id": "a1", "context": "all", "message": "Hello"}),
    (["mute-mic"], {"cmd": "mute-mic"}),
    (["status", "--json"], {"cmd": "status"}),
])
def test_ctl_builds_the_request(argv: list[str], request_: dict) -> None:
    args = build_parser().parse_args(["ctl", "--socket", "s", *argv])
    assert build_request(args) == request_


def test_every_ctl_command_is_one_the_daemon_answers_and_the_reverse() -> None:
    """A command added on one side only is caught here (`monitor` is `listen`'s)."""
    assert set(COMMANDS) == set(HANDLERS) - {"monitor"}


def test_every_field_ctl_sends_is_one_the_daemon_takes() -> None:
    """The daemon refuses fields a command does not take: `ctl` must send none of those."""
    for name, (_help, args) in COMMANDS.items():
        parsed = build_parser().parse_args(["ctl", "--socket", "s", name, *(
            ["x"] if any(not flags[0].startswith("-") for flags, _o in args) else [])])
        assert set(build_request(parsed)) - {"cmd"} <= set(FIELDS.get(name, ())), name


def test_both_parties_are_mixed_to_mono_without_clipping() -> None:
    stereo = np.array([[1000, 3000], [-32768, -32768], [32767, 32767]], dtype=np.int16)
    assert mix_to_mono(stereo).tolist() == [2000, -32768, 32767]


def test_verify_finds_a_shifted_copy_only_near_where_it_should_be() -> None:
    rng = np.random.default_rng(1)
    y = (rng.standard_normal(16000 * 6) * 3000).astype(np.int16)
    x = y[16000 * 2:16000 * 4]  # starts 2 s into y
    r, k = best_lag(x, y, 16000, 16000 * 3)
    assert r == pytest.approx(1.0) and k == 32000
    r, _ = best_lag(x, y, 0, 16000)  # the window excludes the true place
    assert r < 0.1
    r, lag = blockwise(x, y, 32000 - 800, 16000, 16000)  # hint 50 ms off
    assert r == pytest.approx(1.0) and lag == pytest.approx(0.05)


def test_verify_names_a_listen_channel_that_stayed_silent() -> None:
    """Joined after the visitor's words: the sent leg is not silent within the search window
    (±1 s), but the listen stream's visitor channel carried nothing; the verdict says so
    rather than a pairing score of 0.00 that names no cause."""
    rng = np.random.default_rng(2)
    speech = (rng.standard_normal(16000 * 2) * 3000).astype(np.int16)
    legs = {"sent": np.concatenate([speech[:8000], np.zeros(16000 * 3, np.int16)]),
            "received": speech}
    matches = [ChannelMatch(0, None, {"sent": 0.0, "received": 0.0}, {"sent": 0, "received": 0},
                            -109.0),
               ChannelMatch(1, None, {"sent": 0.02, "received": 1.0},
                            {"sent": 0, "received": 0}, -22.0)]
    report = decide(matches, legs)
    assert report.mapping is None
    assert report.note.startswith("inconclusive: channel 0 of the listen stream carried no "
                                  "sound (-109 dBFS): nobody spoke on it")


def test_ctl_for_a_profile_no_daemon_runs_says_how_to_start_it() -> None:
    """The cause alone ("no control socket at …") left the operator to guess the fix."""
    name = f"nosuch-{uuid.uuid4().hex[:8]}"
    with pytest.raises(NoDaemon) as caught:
        find_socket(name)
    assert str(caught.value).endswith(
        f" — start it (vapi-bridge run --profile {name}, or systemctl start "
        f"vapi-bridge@{name}), or give --socket PATH, from the `control socket:` line of its "
        f"log")
