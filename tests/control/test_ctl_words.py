"""`ctl say One moment please` and `ctl add-message The visitor is early`: the words after
the command are the text, joined with single spaces (as `echo` takes them), and the
options still work before and after them — through a standby daemon and the simulator,
which records the text Vapi got."""

from __future__ import annotations

from pathlib import Path

from tests.control.conftest import control_profile, received, wait_for
from tests.e2e.conftest import ProfileBuilder


def test_unquoted_words_are_the_text(start_sim, profiles: ProfileBuilder, short_dir: Path,
                                     start_daemon) -> None:
    sim = start_sim(assistant="echo")
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock"))
    short = daemon.ok("call").split()[1]
    call_id = wait_for(lambda: [c for c in sim.calls() if c["id"].endswith(short)], 10,
                       "the simulator to see the call")[0]["id"]

    assert "say sent (socket)" in daemon.ok("say", "One", "moment", "please")
    daemon.ok("say", "--no-interrupt", "Take", "a", "seat.")
    daemon.ok("say", "Back", "soon.", "--interrupt-assistant")
    daemon.ok("add-message", "The", "visitor", "is", "early.", "--no-response")
    daemon.ok("add-message", "--role", "user", "Hello   there")  # one word as given

    got = wait_for(lambda: [m for _, m in received(sim.get(f"/_sim/calls/{call_id}"))
                            if m["type"] in ("say", "add-message")][4:] and
                   [m for _, m in received(sim.get(f"/_sim/calls/{call_id}"))
                    if m["type"] in ("say", "add-message")], 10, "the five commands")
    assert [m.get("content") or m["message"]["content"] for m in got] == [
        "One moment please", "Take a seat.", "Back soon.", "The visitor is early.",
        "Hello   there"]
    assert got[1]["interruptionsEnabled"] is False
    assert got[2]["interruptAssistantEnabled"] is True
    assert got[3]["triggerResponseEnabled"] is False
    assert got[4]["message"]["role"] == "user"
    assert daemon.stop() == 0, daemon.err


def test_help_says_the_words_are_joined(start_sim) -> None:
    from tests.e2e.conftest import run_bridge

    for command in ("say", "add-message"):
        done = run_bridge("ctl", command, "--help")
        assert done.returncode == 0, done.stderr
        assert "joined with spaces" in " ".join(done.stdout.split()), done.stdout
