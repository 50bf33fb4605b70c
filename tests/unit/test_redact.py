"""The redactor masks a live call's secrets and lets go of them when the call is over, so
a daemon's thousandth call costs no more to log than its first."""

from __future__ import annotations

import uuid

import pytest

from bridge import redact
from bridge.vapi.callinfo import CallInfo


def call_body(call_id: str, host: str = "phone.vapi.example") -> dict[str, object]:
    return {"id": call_id,
            "transport": {"websocketCallUrl": f"wss://{host}/{call_id}/transport"},
            "monitor": {"listenUrl": f"wss://{host}/{call_id}/listen",
                        "controlUrl": f"https://{host}/{call_id}/control"}}


def test_a_live_calls_secrets_are_masked_and_released_when_it_ends() -> None:
    before = redact.registered()
    call_id = str(uuid.uuid4())
    info = CallInfo.from_body(call_body(call_id))
    line = f"joined {info.websocket_url} ({info.websocket_url.split('//')[1][18:]}) as {call_id}"
    masked = redact.scrub_urls(line)
    assert call_id not in masked and "/transport" not in masked, masked
    assert f"…{call_id[-8:]}" in redact.mask(f"recording to rec-{call_id}.wav")
    info.release_secrets()
    assert redact.registered() == before
    after = redact.scrub_urls(f"dead {info.websocket_url}")
    assert after == "dead wss://phone.vapi.example/…", "a released URL is still shortened"


def test_urls_learnt_later_are_released_with_the_call() -> None:
    before = redact.registered()
    call_id = str(uuid.uuid4())
    info = CallInfo.from_body({"id": call_id, "transport": {
        "websocketCallUrl": f"wss://h.example/{call_id}/transport"}})
    CallInfo.from_body(call_body(call_id, "h.example"))  # GET /call later adds the monitor
    assert redact.registered() > before
    info.release_secrets()
    assert redact.registered() == before


def test_ten_thousand_calls_leave_the_registry_as_they_found_it() -> None:
    before = redact.registered()
    for _ in range(10_000):
        CallInfo.from_body(call_body(str(uuid.uuid4()))).release_secrets()
    assert redact.registered() == before


@pytest.mark.parametrize("url", ["http://h:99999/call/abc123", "http://[::1/call/abc123",
                                 "wss://user:pw@h:0x/call/abc123/transport"])
def test_a_url_that_does_not_parse_is_hidden_not_raised(url: str) -> None:
    """Server text: a bad port or bracket in an error message must not turn the one-line
    error into a traceback, and its path (a call id) must not be shown."""
    shown = redact.scrub_urls(f"failed: {url} (closed)")
    assert "abc123" not in shown and "pw" not in shown
    assert shown.startswith("failed: ") and shown.endswith("(closed)")
