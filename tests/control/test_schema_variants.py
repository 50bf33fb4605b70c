"""Every message Vapi's published schema lets reach a call socket, in every shape it allows
(the simulator's `schema-variants` fault: `bridge.sim.variants`), through the real call on
loopback: each is read as its kind without a malformed count, bounded and inert, shown
where it is shown (the terminal's transcript lines, `ctl events`), and none of them moves
the call's status where Vapi's statuses do not.

The call is `open_call`'s, in this process (the daemon's own `Call`), all of the schema's
`clientMessages` asked for; the simulator's webhook wrapping and other type and spec shapes
on top."""

from __future__ import annotations

import asyncio
import json

import pytest

from bridge.cli.transcript import transcript_printer
from bridge.client import open_call
from bridge.errors import ExitCode
from bridge.events import EventBus
from bridge.service.kiosk_events import publisher
from bridge.sim import schema
from bridge.sim.events import ENUM_VALUE
from bridge.sim.variants import LONG, ORIGINAL, UNICODE
from bridge.vapi import messages
from tests.e2e.conftest import KEY, ProfileBuilder

LAST = "tool.completed"  # the catalogue's last message
BOUND = 4100  # a text shown: MAX_TEXT and an ellipsis, a role


@pytest.mark.parametrize("shapes", [(), ("wrapped-events",), ("spec-shapes", "bracketed-finals")],
                         ids=["flat", "wrapped", "spec-bracketed"])
def test_every_documented_message_is_read_and_shown_bounded(
        start_sim, profiles: ProfileBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], shapes: tuple[str, ...]) -> None:
    """A `scheduled`, `queued` or `ringing` after an unknown status (or one of a call's
    record: `not-found`, `deletion-failed`) was taken: ranked below every stage, the
    unknown one made any status after it good, and `ctl status` and the status line said
    "ringing" for the rest of the call. A transfer to a workflow's step (no `destination`)
    was printed `transfer: ?` and published with neither a destination nor a name."""
    sim = start_sim(assistant="echo", faults=("schema-variants=0.05", *shapes))
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    profile = profiles.write(sim.base_url, assistant={"id": "echo", "overrides": {
        "firstMessage": "", "clientMessages": list(schema.enum("clientMessages"))}})
    bus, printer = EventBus(), transcript_printer("all")
    published, status = [], []
    bus.listen(published.append)

    async def scenario() -> tuple[list[messages.Event], object]:
        got: list[messages.Event] = []
        async with open_call(str(profile)) as call:
            async for event in call.events():
                got.append(event)
                publisher(bus)(event)
                printer(event)
                if event.type == LAST:
                    status.append(call.status)
                    break
        return got, call.summary

    got, summary = asyncio.run(scenario())
    assert status == ["in-progress"], status
    assert summary is not None and summary.malformed == 0
    assert (summary.ended_reason, summary.exit_code) == ("customer-ended-call", ExitCode.OK)

    # every type the enum can ask for (user-interrupted is the interruption faults': it
    # cuts a reply), the language change by its message's own type
    came = {ENUM_VALUE.get(e.type, e.type) for e in got} | {"transcript", "user-interrupted"}
    assert set(schema.enum("clientMessages")) <= came, set(schema.enum("clientMessages")) - came
    assert all(not isinstance(e, messages.MalformedEvent) for e in got)
    transcripts = [e for e in got if isinstance(e, messages.Transcript)]
    assert any(e.final and e.role == "user" and e.exact == UNICODE for e in transcripts)
    long = next(e for e in transcripts if e.exact.startswith(LONG[:100]))
    assert long.cut and len(long.text) <= BOUND
    assert {(e.destination, e.to) for e in got if isinstance(e, messages.TransferUpdate)} == {
        ("assistant", "billing"), ("sip", "sip:desk@pbx.example.com"), ("step", "billing")}
    tools = [c for e in got if isinstance(e, messages.ToolCalls) for c in e.calls]
    assert [(c.name, json.loads(c.arguments)["note"]) for c in tools] == [("open_door", UNICODE)]
    captions = [(e.text, e.turn, e.source) for e in got
                if isinstance(e, messages.AssistantSpeechStarted)]
    assert captions == [(UNICODE, 2, "force-say"), ("Hello there.", None, "custom-voice")]

    # what people see: the terminal's lines and `ctl events`, bounded; a filtered
    # transcript's original words nowhere
    printed = capsys.readouterr().out.splitlines()
    assert printed and all(len(line) <= BOUND for line in printed), max(map(len, printed))
    assert "visitor: [filtered]" in printed or "user: [filtered]" in printed, printed[:8]
    fields = [json.dumps(e.fields) for e in published]
    assert all(len(f) <= 2 * BOUND for f in fields)
    assert not any(ORIGINAL in text for text in printed + fields)
    kinds_published = [e.kind for e in published]
    assert kinds_published.count("transfer") == 3 and kinds_published.count("caption") == 2
    assert "transfer: step billing" in printed
