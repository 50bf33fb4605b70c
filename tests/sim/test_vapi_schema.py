"""What Vapi's published schema says, enforced by the simulator: key sets of the create
body, assistantOverrides and an inline assistant, the clientMessages enum, the assistant
store behind GET /assistant/{id}, and the fields of the 201."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bridge.sim import SimConfig, SimHandle, run_in_thread
from tests.sim.conftest import AUTH, UA, ws_body

NIL = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    cfg = SimConfig(port=0, assistant_ids=("echo", "3f1c9a52-8d2e-4b7a-9c11-5e0d2a7b6f43"))
    with run_in_thread(cfg) as handle:
        yield handle


def refused(client: httpx.Client, body: Any) -> list[str]:
    r = client.post("/call", json=body, headers=AUTH)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "Bad Request"
    message = r.json()["message"]
    return message if isinstance(message, list) else [message]


@pytest.mark.parametrize(("body", "expected"), [
    (ws_body(silenceTimeoutSeconds=30),
     "assistantOverrides.property silenceTimeoutSeconds should not exist"),
    ({"assistant": {"firstMessage": "Hi", "silenceTimeoutSeconds": 30},
      "transport": {"provider": "vapi.websocket"}},
     "assistant.property silenceTimeoutSeconds should not exist"),
    # variableValues is an override, not a property of an assistant
    ({"assistant": {"variableValues": {"desk": "1"}}, "transport": {"provider": "vapi.websocket"}},
     "assistant.property variableValues should not exist"),
    ({**ws_body(), "metadata": {"attempt": "1"}}, "property metadata should not exist"),
    (ws_body(monitorPlan={"listenEnabled": True, "recordEnabled": True}),
     "assistantOverrides.monitorPlan.property recordEnabled should not exist"),
    (ws_body(clientMessages=["transcript", 'transcript[transcriptType="final"]']),
     "assistantOverrides.each value in clientMessages must be one of the following values"),
    (ws_body(clientMessages=["transcript", "assistant.speech-started"]),
     "assistantOverrides.each value in clientMessages must be one of the following values"),
    ({**ws_body(), "assistantVersion": 3}, "assistantVersion must be a string"),
    # what the schema requires, Vapi needs: a voice names its voiceId, a model its provider
    # (a required field with a documented default may be left out: audioFormat.sampleRate)
    (ws_body(voice={"provider": "11labs"}),
     "assistantOverrides.voice.voiceId should not be empty"),
    ({"assistant": {"model": {"model": "gpt-4o-mini"}},
      "transport": {"provider": "vapi.websocket", "audioFormat": {"format": "mulaw"}}},
     "assistant.model matches none of its"),
])
def test_keys_and_values_outside_the_schema_are_refused(client: httpx.Client, body: Any,
                                                        expected: str) -> None:
    messages = refused(client, body)
    assert any(m.startswith(expected) for m in messages), messages


def test_a_provider_no_shape_has_is_named_with_those_there_are(client: httpx.Client) -> None:
    """A voice's `provider: elevenlabs` (its name is 11labs): the 400, and `vapi-bridge
    check` with it, said `voice.provider must be one of the following values: azure`, the
    first shape's own error; now the field with every provider the schema has."""
    messages = refused(client, ws_body(voice={"provider": "elevenlabs", "voiceId": "burt"}))
    assert len(messages) == 1, messages
    start = "assistantOverrides.voice.provider must be one of the following values: azure, "
    assert messages[0].startswith(start) and ", 11labs, " in messages[0], messages


def test_what_the_schema_has_is_accepted_and_the_201_carries_the_limits(
        client: httpx.Client) -> None:
    body = {**ws_body(firstMessage="", variableValues={"desk": "Front"},
                      firstMessageInterruptionsEnabled=False, maxDurationSeconds=60,
                      clientMessages=["status-update", "assistant.speechStarted"],
                      monitorPlan={"listenEnabled": True, "controlEnabled": True}),
            "assistantId": "echo", "assistantVersion": "v3", "name": "front-desk"}
    r = client.post("/call", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    call = r.json()
    assert call["assistantVersion"] == "v3"
    limits = call["subscriptionLimits"]
    assert limits["concurrencyLimit"] == 10 and limits["concurrencyBlocked"] is False
    assert 0 <= limits["remainingConcurrentCalls"] < limits["concurrencyLimit"]
    report = client.get(f"/_sim/calls/{call['id']}", headers={"User-Agent": UA}).json()
    assert report["options"]["clientMessages"] == ["status-update", "assistant.speechStarted"]


def test_a_null_monitor_plan_is_taken_as_absent(client: httpx.Client) -> None:
    """`monitorPlan: null` (a profile's `monitorPlan:` with its keys commented out): Vapi's
    validators take it as absent, the simulator answered 500 (its options crashed on it)."""
    body = {**ws_body(monitorPlan=None), "assistantId": "echo"}
    r = client.post("/call", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    report = client.get(f"/_sim/calls/{r.json()['id']}", headers={"User-Agent": UA}).json()
    assert report["options"]["listenAuthenticationEnabled"] is False, report["options"]


def test_an_unknown_assistant_id_cannot_start_a_call(client: httpx.Client) -> None:
    body = {**ws_body(), "assistantId": NIL}
    assert refused(client, body) == [
        f"Couldn't Get Assistant. `assistantId` {NIL} Does Not Exist."]


def test_get_assistant_serves_the_store(client: httpx.Client) -> None:
    known = "3f1c9a52-8d2e-4b7a-9c11-5e0d2a7b6f43"
    r = client.get(f"/assistant/{known}", headers=AUTH)
    assert r.status_code == 200
    got = r.json()
    assert got["id"] == known and got["orgId"] and got["createdAt"] and got["updatedAt"]
    assert "assistant.speechStarted" not in got["clientMessages"]  # opt-in only
    assert "silenceTimeoutSeconds" not in got
    assert client.get("/assistant/echo", headers=AUTH).json()["id"] == "echo"

    missing = client.get(f"/assistant/{NIL}", headers=AUTH)
    assert (missing.status_code, missing.json()["statusCode"]) == (404, 404)
    malformed = client.get("/assistant/front-desk", headers=AUTH)
    assert malformed.status_code == 400
    assert "uuid is expected" in malformed.json()["message"]
    no_key = client.get(f"/assistant/{known}", headers={"User-Agent": UA})
    assert no_key.status_code == 401
