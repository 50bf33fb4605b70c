"""Which server event flushes the speaker: Vapi's `user-interrupted`, and the visitor's
speech start only when the call's `clientMessages` leave `user-interrupted` out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bridge.vapi import messages
from bridge.vapi.interruptions import DEFAULT_CLIENT_MESSAGES, BargeInRule, client_messages

FIXTURE = Path(__file__).parent.parent / "fixtures" / "transport_ack_dropped_by_vapi.json"
SCHEMA_DEFAULT = (  # CreateAssistantDTO.clientMessages, "Default is …" in Vapi's openapi.json
    "conversation-update,function-call,hang,model-output,speech-update,status-update,"
    "transfer-update,transcript,tool-calls,user-interrupted,voice-input,"
    "workflow.node.started,assistant.started")
WITHOUT = ["status-update", "speech-update", "transcript"]
USER_STARTED = messages.parse_event(
    '{"type": "speech-update", "role": "user", "status": "started", "turn": 1}')
INTERRUPTED = messages.parse_event('{"type": "user-interrupted", "turnId": "t-1"}')
OTHERS = [messages.parse_event(t) for t in (
    '{"type": "speech-update", "role": "user", "status": "stopped"}',
    '{"type": "speech-update", "role": "assistant", "status": "started"}',
    '{"type": "transcript", "role": "user", "transcriptType": "final", "transcript": "okay"}',
    '{"type": "hang"}', '{"type": "model-output", "output": "Hi", "turnId": "t-1"}',
    "{not json")]


def body(overrides: dict[str, Any] | None = None, inline: dict[str, Any] | None = None
         ) -> dict[str, Any]:
    b: dict[str, Any] = {"assistant": inline} if inline is not None else {"assistantId": "a"}
    if overrides is not None:
        b["assistantOverrides"] = overrides
    return b


def test_the_default_list_is_vapis() -> None:
    assert ",".join(DEFAULT_CLIENT_MESSAGES) == SCHEMA_DEFAULT


@pytest.mark.parametrize(("create", "expected"), [
    (body(), DEFAULT_CLIENT_MESSAGES),
    (body({"firstMessage": "Hi"}), DEFAULT_CLIENT_MESSAGES),
    (body({"clientMessages": WITHOUT}), tuple(WITHOUT)),
    (body(inline={"clientMessages": WITHOUT}), tuple(WITHOUT)),
    (body({"clientMessages": ["user-interrupted"]}, inline={"clientMessages": WITHOUT}),
     ("user-interrupted",)),  # overrides win over the inline assistant
    (body({"clientMessages": []}), ()),
    (body({"clientMessages": "user-interrupted"}), DEFAULT_CLIENT_MESSAGES),  # Vapi: 400
    (body({"clientMessages": ["user-interrupted", 3, None]}), ("user-interrupted",)),
])
def test_client_messages_of_a_call(create: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert client_messages(create) == expected


def test_by_default_only_user_interrupted_flushes() -> None:
    rule = BargeInRule.for_call(body({"firstMessage": "Welcome!"}))
    assert rule.interrupted_sent and rule.signal == "user-interrupted"
    assert rule.is_barge_in(INTERRUPTED)
    assert not rule.is_barge_in(USER_STARTED), "a backchannel or an uninterruptible line"
    assert not any(rule.is_barge_in(e) for e in OTHERS)


def test_without_user_interrupted_the_speech_start_flushes() -> None:
    for create in (body({"clientMessages": WITHOUT}), body(inline={"clientMessages": WITHOUT}),
                   body({"clientMessages": []})):
        rule = BargeInRule.for_call(create)
        assert not rule.interrupted_sent and rule.signal == "speech-update user started"
        assert rule.is_barge_in(USER_STARTED)
        assert rule.is_barge_in(INTERRUPTED), "Vapi's own word is always taken"
        assert not any(rule.is_barge_in(e) for e in OTHERS)


def test_a_recorded_call_without_an_interruption_flushes_nothing_by_default() -> None:
    """Vapi's recorded frames: two visitor speech starts, no user-interrupted."""
    events = [messages.parse_event(json.dumps(e["event"]))
              for e in json.loads(FIXTURE.read_text())["events"]]
    assert sum(BargeInRule(True).is_barge_in(e) for e in events) == 0
    assert sum(BargeInRule(False).is_barge_in(e) for e in events) == 2
