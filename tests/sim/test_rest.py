"""POST /call and GET /call/{id} with plain HTTP clients, against a simulator in a thread."""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bridge.sim import SimConfig, SimHandle, run_in_thread
from tests.sim.conftest import API_KEY, AUTH, PUBLIC_KEY, UA, ws_body

INVALID_KEY = {
    "message": "Invalid Key. Hot tip, you may be using the private key instead of the public "
    "key, or vice versa.",
    "error": "Unauthorized",
    "statusCode": 401,
}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    cfg = SimConfig(port=0, never_connected_timeout=0.6, http_hang_seconds=3.0)
    with run_in_thread(cfg) as handle:
        yield handle


def post(client: httpx.Client, body: Any, headers: dict[str, str] | None = None,
         **kw: Any) -> httpx.Response:
    return client.post("/call", json=body, headers={**AUTH, **(headers or {})}, **kw)


def test_run_in_thread_serves_on_a_free_port(sim: SimHandle) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sim.base_url)
    assert sim.port > 0
    assert httpx.get(f"{sim.base_url}/_sim", headers={"User-Agent": UA}).status_code == 200


def test_create_with_the_docs_body(client: httpx.Client, sim: SimHandle) -> None:
    r = post(client, ws_body())
    assert r.status_code == 201
    call = r.json()
    assert call["type"] == "vapi.websocketCall"
    assert call["status"] == "queued"
    assert call["cost"] == 0
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        call["id"])
    port = sim.port
    assert call["transport"]["provider"] == "vapi.websocket"
    assert call["transport"]["websocketCallUrl"] == f"ws://127.0.0.1:{port}/{call['id']}/transport"
    assert call["subscriptionLimits"]["concurrencyBlocked"] is False
    assert isinstance(call["subscriptionLimits"]["remainingConcurrentCalls"], int)
    assert "monitor" not in call  # websocket calls: fetch it with GET


def test_get_call_has_monitor_and_fixture_shape(client: httpx.Client, sim: SimHandle) -> None:
    call = post(client, ws_body()).json()
    r = client.get(f"/call/{call['id']}", headers=AUTH)
    assert r.status_code == 200
    got = r.json()
    port, cid = sim.port, call["id"]
    assert got["monitor"] == {"listenUrl": f"ws://127.0.0.1:{port}/{cid}/listen",
                              "controlUrl": f"http://127.0.0.1:{port}/{cid}/control"}
    assert got["status"] == "queued" and "endedReason" not in got
    assert ISO.match(got["createdAt"])
    system = got["messages"][0]
    assert system["role"] == "system" and system["secondsFromStart"] == 0
    assert isinstance(system["time"], int) and isinstance(system["message"], str)
    assert client.get(f"/call/{cid}", headers={"User-Agent": UA}).json() == INVALID_KEY
    missing = client.get("/call/00000000-0000-7000-8000-000000000000", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["statusCode"] == 404


def test_wrong_or_missing_key_is_401(client: httpx.Client) -> None:
    for headers in ({"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {PUBLIC_KEY}"}):
        r = post(client, ws_body(), headers)
        assert r.status_code == 401 and r.json() == INVALID_KEY
    r = client.post("/call", json=ws_body(), headers={"User-Agent": UA})
    assert r.status_code == 401 and r.json() == INVALID_KEY


def test_missing_or_urllib_user_agent_is_403_1010(sim: SimHandle) -> None:
    host, port = "127.0.0.1", sim.port
    conn = http.client.HTTPConnection(host, port, timeout=5)  # sends no User-Agent
    conn.request("POST", "/call", body=json.dumps(ws_body()),
                 headers={"Authorization": f"Bearer {API_KEY}",
                          "Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 403
    assert resp.getheader("Content-Type", "").startswith("text/plain")
    assert resp.read() == b"error code: 1010"
    conn.close()
    req = urllib.request.Request(f"{sim.base_url}/call", data=json.dumps(ws_body()).encode(),
                                 headers={"Authorization": f"Bearer {API_KEY}",
                                          "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 403 and err.value.read() == b"error code: 1010"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"transport": {"provider": "vapi.websocket"}}, "Need Either"),
        ({**ws_body(), "assistant": {"firstMessage": "hi"}}, "Only one of"),
        ({**ws_body(), "customer": {"number": "+15550100"}}, "property customer should not exist"),
        ({**ws_body(), "phoneNumberId": "x"}, "property phoneNumberId should not exist"),
        ({**ws_body(), "bogus": 1}, "property bogus should not exist"),
        ({**ws_body(), "name": "x" * 41}, "name must be shorter than or equal to 40 characters"),
        ({"assistantId": "a", "transport": {"provider": "twilio"}},
         "transport.provider must be one of the following values: vapi.websocket"),
        (ws_body(fmt="opus"), "transport.audioFormat.format must be one of the following values"),
        ({"assistantId": "a", "transport": {"provider": "vapi.websocket", "audioFormat": {
            "format": "pcm_s16le", "container": "wav", "sampleRate": 16000}}},
         "transport.audioFormat.container must be one of the following values: raw"),
        ({"assistantId": "a", "transport": {"provider": "vapi.websocket", "audioFormat": {
            "format": "pcm_s16le", "container": "raw", "sampleRate": "16000"}}},
         "transport.audioFormat.sampleRate must be an integer number"),
        ({"assistantId": "a", "transport": {"provider": "vapi.websocket", "audioFormat": {
            "format": "pcm_s16le", "container": "raw", "sampleRate": 16000.5}}},
         "transport.audioFormat.sampleRate must be an integer number"),
        ({**ws_body(), "assistantOverrides": {"maxDurationSeconds": "long"}},
         "assistantOverrides.maxDurationSeconds must be a number"),
        ([1, 2], "body must be a JSON object"),
        # deeper than the hand checks: the whole of the schema's CreateCallDTO (a profile
        # the simulator took, and Vapi refused at the first real call: schema helper)
        ({**ws_body(), "assistantOverrides": {"stopSpeakingPlan": {"numWords": 50}}},
         "assistantOverrides.stopSpeakingPlan.numWords must not be greater than 10"),
        ({**ws_body(), "assistantOverrides": {"voice": {"provider": "vapi", "voiceId": "Elliot",
                                                        "bogus": True}}},
         "assistantOverrides.voice.property bogus should not exist"),
        ({**ws_body(), "assistantOverrides": {"variableValues": "x"}},
         "assistantOverrides.variableValues must be an object"),
        ({**ws_body(), "assistantOverrides": {"endCallPhrases": "bye"}},
         "assistantOverrides.endCallPhrases must be an array"),
        ({**ws_body(), "assistantOverrides": {"voice": {"provider": "vapi", "voiceId": None}}},
         "assistantOverrides.voice.voiceId must be a string"),  # null: for optional ones
    ],
)
def test_body_validation_is_400_nestjs(client: httpx.Client, body: Any, expected: str) -> None:
    r = post(client, body)
    assert r.status_code == 400
    got = r.json()
    assert got["error"] == "Bad Request" and got["statusCode"] == 400
    assert isinstance(got["message"], list) and all(isinstance(m, str) for m in got["message"])
    assert any(m.startswith(expected) for m in got["message"]), got["message"]


def test_several_problems_are_all_reported(client: httpx.Client) -> None:
    body = {**ws_body(fmt="opus"), "customer": {}, "phoneNumberId": "p"}
    messages = post(client, body).json()["message"]
    assert len(messages) >= 3


def test_invalid_json_is_400(client: httpx.Client) -> None:
    r = client.post("/call", content=b"{nope", headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"] == "Bad Request" and isinstance(r.json()["message"], str)


def test_audio_formats_and_defaults(client: httpx.Client, sim: SimHandle) -> None:
    cases = [(ws_body(fmt="mulaw", rate=None), ("mulaw", 8000)),
             (ws_body(fmt="pcm_s16le", rate=None), ("pcm_s16le", 16000)),
             (ws_body(fmt="pcm_s16le", rate=24000), ("pcm_s16le", 24000)),
             ({"assistantId": "echo", "transport": {"provider": "vapi.websocket"}},
              ("pcm_s16le", 16000))]
    for body, (fmt, rate) in cases:
        call = post(client, body).json()
        rep = client.get(f"/_sim/calls/{call['id']}").json()
        assert (rep["format"], rep["sampleRate"]) == (fmt, rate)


def test_null_is_a_missing_optional_field_as_to_vapi(client: httpx.Client) -> None:
    """Vapi's validators take null for an optional field (class-validator's @IsOptional);
    the whole-schema check refused it as "must be a string" (reread helper)."""
    body = {**ws_body(), "assistantOverrides": {"firstMessage": "", "voicemailMessage": None,
                                                "endCallMessage": None}}
    assert post(client, body).status_code == 201
    # the fields the simulator reads itself too: `--set assistant.overrides.firstMessage=`
    # (null) was a 400 "must be a string" (devwalk helper); an inline value stays
    nulls = dict.fromkeys(("firstMessage", "firstMessageMode", "maxDurationSeconds",
                           "firstMessageInterruptionsEnabled", "clientMessages"))
    body = {"assistant": {"firstMessage": "Hi there", "model": {
        "provider": "openai", "model": "gpt-4o-mini"}}, "assistantOverrides": nulls,
        "transport": {"provider": "vapi.websocket"}}
    created = post(client, body)
    assert created.status_code == 201, created.text
    rep = client.get(f"/_sim/calls/{created.json()['id']}").json()
    assert rep["options"]["firstMessage"] == "Hi there"


def test_inline_assistant_is_accepted(client: httpx.Client) -> None:
    body = {"assistant": {"firstMessage": "", "model": {
        "provider": "openai", "model": "gpt-4o-mini", "messages": [
            {"role": "system", "content": "Be brief."}]}},
        "transport": {"provider": "vapi.websocket"}}
    call = post(client, body).json()
    got = client.get(f"/call/{call['id']}", headers=AUTH).json()
    assert got["messages"][0]["message"] == "Be brief."


def test_variable_values_fill_the_first_message_and_the_prompt(client: httpx.Client) -> None:
    """As Vapi does: a developer's `Hello {{desk}}` was spoken and transcribed as written
    (devwalk helper). A name no value reached is left as written, so it shows; one given
    as null (`desk:` left empty) is nothing, as Liquid's nil (it was spoken as "None")."""
    body = {"assistant": {"firstMessage": "Hello {{desk}}, {{ visitor.name }}! {{missing}}"
                                          "{{ unset }}",
                          "model": {"provider": "openai", "model": "gpt-4o-mini", "messages": [
                              {"role": "system", "content": "You work at {{desk}}."}]}},
            "assistantOverrides": {"variableValues": {"desk": "Front desk",
                                                      "visitor": {"name": "Ms Lee"},
                                                      "unset": None}},
            "transport": {"provider": "vapi.websocket"}}
    call = post(client, body).json()
    rep = client.get(f"/_sim/calls/{call['id']}").json()
    assert rep["options"]["firstMessage"] == "Hello Front desk, Ms Lee! {{missing}}"
    got = client.get(f"/call/{call['id']}", headers=AUTH).json()
    assert got["messages"][0]["message"] == "You work at Front desk."


def test_sim_report_redacts_authorization(client: httpx.Client) -> None:
    body = ws_body(firstMessage="")
    call = post(client, body, {"X-Extra": "1"}).json()
    rep = client.get(f"/_sim/calls/{call['id']}").json()
    assert rep["requestHeaders"]["Authorization"] == "<redacted>"
    assert rep["requestHeaders"]["X-Extra"] == "1"
    assert API_KEY not in json.dumps(rep)
    assert rep["createBody"] == body
    assert rep["assistant"] == "echo" and rep["status"] == "queued"
    listed = client.get("/_sim/calls").json()["calls"]
    assert call["id"] in [c["id"] for c in listed]


@pytest.mark.parametrize("status", [400, 401, 402, 429, 500])
def test_http_faults(client: httpx.Client, status: int) -> None:
    r = post(client, ws_body(), params={"fault": f"http-{status}"})
    assert r.status_code == status
    if status == 400:
        assert r.json()["error"] == "Bad Request" and isinstance(r.json()["message"], list)
    elif status == 401:
        assert r.json() == INVALID_KEY
    elif status == 402:
        got = r.json()
        assert got["statusCode"] == 402 and got["reason"] == "insufficient_credits"
        assert got["error"] == "Payment Required" and got["message"]
    elif status == 429:
        assert r.text == "Rate limit exceeded" and "Retry-After" not in r.headers
    else:
        assert r.json()["statusCode"] == 500


def test_http_fault_first_n_attempts_then_success(client: httpx.Client) -> None:
    statuses = [post(client, ws_body(), {"X-Sim-Fault": "http-500=2"}).status_code
                for _ in range(3)]
    assert statuses == [500, 500, 201]
    statuses = [post(client, ws_body(), params={"fault": "http-429=1"}).status_code
                for _ in range(2)]
    assert statuses == [429, 201]


def test_http_hang_outlasts_client_timeout(client: httpx.Client) -> None:
    t0 = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        post(client, ws_body(), params={"fault": "http-hang"}, timeout=0.5)
    assert time.monotonic() - t0 >= 0.5


def test_unknown_fault_is_refused(client: httpx.Client) -> None:
    r = post(client, ws_body(), params={"fault": "no-such-fault"})
    assert r.status_code == 400 and "unknown fault" in r.json()["message"][0]


def test_global_fault_from_config() -> None:
    with run_in_thread(SimConfig(port=0, faults=("http-402=1",))) as handle, \
            httpx.Client(base_url=handle.base_url) as c:
        assert post(c, ws_body()).status_code == 402
        assert post(c, ws_body()).status_code == 201


def test_transport_never_connected(client: httpx.Client) -> None:
    call = post(client, ws_body()).json()
    deadline = time.monotonic() + 5
    got: dict[str, Any] = {}
    while time.monotonic() < deadline:
        got = client.get(f"/call/{call['id']}", headers=AUTH).json()
        if got["status"] == "ended":
            break
        time.sleep(0.1)
    assert got["status"] == "ended"
    assert got["endedReason"] == "call.in-progress.error-vapifault-transport-never-connected"
    assert ISO.match(got["endedAt"])
    with httpx.Client() as c:  # the socket is refused once the call has ended
        url = f"{client.base_url}/{call['id']}/transport"
        r = c.get(url, headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                "Sec-WebSocket-Version": "13",
                                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert r.status_code == 410


@pytest.mark.parametrize("reset", [True, False], ids=["reset", "closed"])
def test_a_client_gone_mid_post_is_one_line_in_the_log(
        sim: SimHandle, reset: bool, caplog: pytest.LogCaptureFixture) -> None:
    """A client that resets (or closes) its connection with a POST's body half sent: the
    simulator logged aiohttp's 'Error handling request' and a traceback of 20 lines."""
    head = (f"POST /call HTTP/1.1\r\nHost: x\r\nUser-Agent: {UA}\r\nAuthorization: "
            f"{AUTH['Authorization']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n")
    with caplog.at_level(logging.INFO):
        with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as client:
            client.sendall(head.encode())
            assert client.recv(100).startswith(b"HTTP/1.1 100 Continue")  # read the body,
            client.sendall(b'{"assistantId": ')  # it says: half of it comes
            if reset:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not [r for r in caplog.records
                                                   if "POST" in r.getMessage()
                                                   or r.name == "aiohttp.server"]:
            time.sleep(0.02)
    said = [r for r in caplog.records if r.name.startswith(("aiohttp", "bridge.sim"))]
    assert [(r.levelname, r.getMessage(), r.exc_info) for r in said] == [
        ("INFO", "POST /call: the client went away before its request was read ("
         + ("Connection reset by peer)" if reset else "Connection lost)"), None)], said
