"""The server-message parser against what Vapi really sends, and anything else."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.vapi import messages
from bridge.vapi.interruptions import BargeInRule

FIXTURE = Path(__file__).parent.parent / "fixtures" / "transport_ack_dropped_by_vapi.json"


def test_recorded_call_events_parse_into_their_types() -> None:
    events = [e["event"] for e in json.loads(FIXTURE.read_text())["events"]]
    parsed = [messages.parse_event(json.dumps(e)) for e in events]
    kinds = {type(p).__name__ for p in parsed}
    assert {"StatusUpdate", "SpeechUpdate", "Transcript", "Hang", "UnknownEvent"} <= kinds
    finals = [p for p in parsed if isinstance(p, messages.Transcript) and p.final]
    assert finals[0].role == "user" and finals[0].text == "Hello."
    assert any(p.role == "assistant" and p.text.endswith("good moment?") for p in finals)
    assert not any(isinstance(p, messages.MalformedEvent) for p in parsed)


def test_webhook_wrapping_and_ended_reason() -> None:
    ev = messages.parse_event('{"message": {"type": "status-update", "status": "ended", '
                              '"endedReason": "silence-timed-out"}}')
    assert isinstance(ev, messages.StatusUpdate)
    assert ev.ended_reason == "silence-timed-out"


def test_user_interrupted_carries_the_cut_turn_and_hang_is_not_a_hangup() -> None:
    cut = messages.parse_event('{"type": "user-interrupted", "turnId": "t-1"}')
    assert isinstance(cut, messages.UserInterrupted) and cut.turn_id == "t-1"
    odd = messages.parse_event('{"type": "user-interrupted", "turnId": 7}')
    assert isinstance(odd, messages.UserInterrupted) and odd.turn_id is None
    hang = messages.parse_event('{"type": "hang"}')
    assert isinstance(hang, messages.Hang)


@given(st.one_of(st.text(), st.binary(),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                              lambda c: st.lists(c) | st.dictionaries(st.text(), c),
                              max_leaves=10).map(json.dumps)))
def test_anything_the_server_sends_parses_without_raising(payload: str | bytes) -> None:
    event = messages.parse_event(payload)
    assert isinstance(event, messages.Event)


def test_commands_have_the_documented_shapes() -> None:
    assert messages.end_call() == {"type": "end-call"}
    assert messages.end_call("hangup") == {"type": "hangup"}
    assert messages.say("hi")["content"] == "hi"
    assert messages.transfer("sip:desk@example.com")["destination"]["type"] == "sip"
    assert messages.handoff("a1", "last:3")["destination"]["contextEngineeringPlan"] == {
        "type": "lastNMessages", "maxMessages": 3}


@pytest.mark.parametrize("uri", ["sip:desk@pbx", "SIP:desk@pbx", "sips:desk@pbx"])
def test_a_sip_uri_in_any_case_or_secure_is_a_sip_destination(uri: str) -> None:
    """Else it went out as a phone number, which Vapi refuses (E.164, 40 characters)."""
    assert messages.transfer(uri)["destination"] == {"type": "sip", "sipUri": uri}
    assert messages.transfer("+14155550100")["destination"]["type"] == "number"


@pytest.mark.parametrize("context", ["none", "all", "userAndAssistantMessages",
                                     "previousAssistantMessages"])
def test_every_context_plan_vapi_has_can_be_handed_off_with(context: str) -> None:
    plan = messages.handoff("a1", context)["destination"]["contextEngineeringPlan"]
    assert plan == {"type": context}


@pytest.mark.parametrize("context", ["bogus", "last:0", "last:x", "last:"])
def test_a_context_vapi_has_not_is_refused_before_it_is_sent(context: str) -> None:
    with pytest.raises(ValueError, match="is not one of none, all, userAndAssistantMessages"):
        messages.handoff("a1", context)


def test_speech_started_is_its_own_event_and_wrong_types_become_defaults() -> None:
    ev = messages.parse_event('{"type": "assistant.speechStarted", "text": "Welcome!", '
                              '"turn": 2, "source": "model", "timing": {"type": "x"}}')
    assert isinstance(ev, messages.AssistantSpeechStarted)
    assert (ev.text, ev.turn, ev.source) == ("Welcome!", 2, "model")
    assert not any(BargeInRule(sent).is_barge_in(ev) for sent in (True, False))
    odd = messages.parse_event('{"type": "assistant.speechStarted", "text": ["x"], '
                               '"turn": "2", "source": null}')
    assert isinstance(odd, messages.AssistantSpeechStarted)
    assert (odd.text, odd.turn, odd.source) == ("", None, "")


def test_every_command_built_is_in_the_table_and_only_handoff_needs_the_control_url() -> None:
    built = [messages.end_call(), messages.end_call("hangup"), messages.say("Hi"),
             messages.add_message("Hi"), messages.control("mute-assistant"),
             messages.transfer("+15550100"), messages.handoff("a1")]
    assert {c["type"] for c in built} == set(messages.COMMANDS)
    assert [c["type"] for c in built if messages.control_url_only(c)] == ["handoff"]
    assert not messages.control_url_only({"type": "dance"})  # unknown: the profile's route
    assert not messages.control_url_only({"type": ["handoff"]})


def test_tool_calls_read_either_list_and_keep_arguments_as_inert_json() -> None:
    call = {"id": "call_1", "type": "function",
            "function": {"name": "open_door", "arguments": {"door": "main\n12:00 ERROR x"}}}
    both = messages.parse_event(json.dumps({
        "type": "tool-calls", "toolCallList": [call],
        "toolWithToolCallList": [{"type": "function", "toolCall": call}]}))
    assert isinstance(both, messages.ToolCalls)
    assert both.calls == (messages.ToolCall("call_1", "open_door",
                                            '{"door":"main\\n12:00 ERROR x"}'),)
    # only the tool-with-call list; arguments as a string (OpenAI's form); a name with
    # escapes; entries that are not calls are skipped, not fatal
    odd = messages.parse_event(json.dumps({"type": "tool-calls", "toolWithToolCallList": [
        {"toolCall": {"id": 5, "function": {"name": "ring\x1b[31m", "arguments": "{\"a\":1}"}}},
        {"toolCall": {"function": {"arguments": {}}}}, "x", None]}))
    assert isinstance(odd, messages.ToolCalls)
    assert odd.calls == (messages.ToolCall("", "ring\\x1b[31m", '{"a":1}'),)
    flood = messages.parse_event(json.dumps({"type": "tool-calls", "toolCallList": [
        {"function": {"name": f"t{i}", "arguments": "x" * 10_000}} for i in range(100)]}))
    assert isinstance(flood, messages.ToolCalls) and len(flood.calls) == messages.MAX_TOOL_CALLS
    assert all(len(c.arguments) <= messages.MAX_TEXT + 1 for c in flood.calls)
    empty = messages.parse_event('{"type": "tool-calls", "toolCallList": 3}')
    assert isinstance(empty, messages.ToolCalls) and empty.calls == ()


@pytest.mark.parametrize(("destination", "kind", "to"), [
    ({"type": "number", "number": "+15551234567", "message": "One moment."}, "number",
     "+15551234567"),
    ({"type": "sip", "sipUri": "sip:desk@example.com"}, "sip", "sip:desk@example.com"),
    ({"type": "assistant", "assistantName": "Reception\n<3>x"}, "assistant",
     "Reception\\n<3>x"),
    ({"type": 7, "number": ["x"]}, "", ""),
    ("nowhere", "", ""),
])
def test_transfer_updates_say_where_the_call_goes(destination: object, kind: str,
                                                  to: str) -> None:
    event = messages.parse_event(json.dumps({"type": "transfer-update",
                                             "destination": destination}))
    assert isinstance(event, messages.TransferUpdate)
    assert (event.destination, event.to) == (kind, to)


@given(st.one_of(
    st.text(max_size=9000),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=3000),
                 lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=20), c,
                                                                    max_size=5),
                 max_leaves=12)))
def test_tool_arguments_are_always_json_inert_and_bounded(args: object) -> None:
    """Whatever the model put there — pretty-printed JSON text, prose, C1 controls, DEL, a
    bidi override, 9000 characters — `on_event` scripts may json.loads it, and the event
    bus, the terminal and the journal change nothing of it."""
    from bridge.inert import printable

    event = messages.parse_event(json.dumps({"type": "tool-calls", "toolCallList": [
        {"function": {"name": "t", "arguments": args}}]}))
    assert isinstance(event, messages.ToolCalls)
    text = event.calls[0].arguments
    json.loads(text)
    assert len(text) <= messages.MAX_TEXT and printable(text, messages.MAX_TEXT) == text


def test_tool_arguments_given_as_pretty_json_text_are_parsed_and_made_compact() -> None:
    event = messages.parse_event(json.dumps({"type": "tool-calls", "toolCallList": [
        {"function": {"name": "t", "arguments": '{\n  "door": "main\\u0085"\n}'}}]}))
    assert isinstance(event, messages.ToolCalls)
    assert event.calls[0].arguments == '{"door":"main\\u0085"}'


@pytest.mark.parametrize(("given", "sent"), [
    ("+15551234567", {"type": "number", "number": "+15551234567"}),
    ("+1 (555) 123-4567", {"type": "number", "number": "+15551234567"}),
    ("+44 20.7946.0958", {"type": "number", "number": "+442079460958"}),
    ("sips:desk@pbx.example.com:5061;transport=tls",
     {"type": "sip", "sipUri": "sips:desk@pbx.example.com:5061;transport=tls"}),
    ("sip:pbx.example.com", {"type": "sip", "sipUri": "sip:pbx.example.com"}),
])
def test_transfer_destinations_in_vapis_forms(given: str, sent: dict) -> None:
    assert messages.transfer(given)["destination"] == sent


@pytest.mark.parametrize(("extension", "sent", "words"), [
    ("204", "204", None), ("12-34", "1234", None), ("*72#", "*72#", None),
    ("20a", None, "extension '20a' is not 1-10 of the digits 0-9, * and #"),
    ("12345678901", None, "is not 1-10 of the digits"), ("", None, "is not 1-10"),
])
def test_a_transfer_to_a_number_dials_an_extension_vapi_takes(
        extension: str, sent: str | None, words: str | None) -> None:
    if words is None:
        assert messages.transfer("+15551234567", extension=extension)["destination"] == {
            "type": "number", "number": "+15551234567", "extension": sent}
        return
    with pytest.raises(ValueError, match=re.escape(words)):
        messages.transfer("+15551234567", extension=extension)
    with pytest.raises(ValueError, match="a sip: URI takes no extension — name it in the URI"):
        messages.transfer("sip:desk@pbx.example.com", extension="204")


@pytest.mark.parametrize(("given", "words"), [
    ("not-a-number", "is not a phone number or SIP URI — give a phone number in E.164"),
    ("5551234567", "is not an E.164 number — write it with + and the country code"),
    ("+0123", "is not an E.164 number"),
    ("+1234567890123456", "is not an E.164 number"),
    ("sip:", "is not a usable SIP URI — write sip:USER@HOST or sip:HOST"),
    ("sip:desk@ pbx", "is not a usable SIP URI"),
    ("", "is not a phone number or SIP URI"),
])
def test_transfer_refuses_what_vapi_would_not_take(given: str, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        messages.transfer(given)
