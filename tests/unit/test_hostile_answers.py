"""What a server other than Vapi could answer, refused before it is used: a call id that
is no id (it goes into URL paths, file names and the terminal), the wrong types where a
call's URLs belong, JSON that is not JSON (NaN), and text that made the JSON depth check
take minutes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bridge.errors import ApiRequestError
from bridge.inert import is_inert
from bridge.vapi import safejson
from bridge.vapi.callinfo import CallInfo

UUID = "019a6f3e-2b7c-7d41-9c0e-5f1a9a3c1f07"
SOCKET = "wss://phone.example/019a6f3e/transport"


@pytest.mark.parametrize("call_id", [
    "../../../tmp/escaped", "019a6f3e\n<0>forged", "019a6f3e\x1b[2Jx", "ab12", "", None, 7,
    ["019a6f3e-2b7c"], {"id": UUID}, True, "x" * 129, "019a6f3e/2b7c-7d41", "-019a6f3e2b7c",
])
def test_an_id_that_is_no_call_id_is_refused_in_one_inert_line(call_id: object) -> None:
    with pytest.raises(ApiRequestError) as caught:
        CallInfo.from_body({"id": call_id, "transport": {"websocketCallUrl": SOCKET}})
    text = str(caught.value)
    assert text.startswith("Vapi's answer to POST /call had ")
    assert text.endswith("— is api.base_url a Vapi API?")
    assert is_inert(text) and "escaped" not in text and "forged" not in text


def test_a_vapi_id_and_its_urls_are_taken() -> None:
    info = CallInfo.from_body({"id": UUID, "transport": {"websocketCallUrl": SOCKET},
                               "monitor": {"listenUrl": "wss://h.example/l",
                                           "controlUrl": "https://h.example/c"}})
    assert (info.id, info.websocket_url) == (UUID, SOCKET)
    assert (info.listen_url, info.control_url) == ("wss://h.example/l", "https://h.example/c")
    info.release_secrets()


@pytest.mark.parametrize("body", [
    {"transport": "wss://x", "monitor": ["wss://y"]},
    {"transport": {"websocketCallUrl": 7}, "monitor": {"listenUrl": 1, "controlUrl": None}},
    {"transport": None, "monitor": {"listenUrl": {"a": 1}, "controlUrl": "h" * 5000}},
])
def test_urls_of_the_wrong_type_read_as_absent(body: dict[str, object]) -> None:
    info = CallInfo.from_body({"id": UUID, **body})
    assert (info.websocket_url, info.listen_url, info.control_url) == ("", None, None)


@pytest.mark.parametrize("text", ['{"x": NaN}', "[Infinity]", '{"a": [-Infinity]}',
                                  '{"x": 1e999}', "[-1E400]", '{"y": 2.5e308}'])
def test_nan_and_infinity_are_not_json(text: str) -> None:
    with pytest.raises(safejson.UnsafeJson):
        safejson.loads(text)


def test_a_megabyte_of_escaped_quotes_never_closed_is_refused_at_once() -> None:
    """The depth check searched for a closing quote from every quote in it: quadratic, 37 s
    for 120 KB, some 45 minutes for this. Run apart, so a regression fails at the timeout
    instead of holding the suite."""
    code = ("from bridge.vapi import safejson\n"
            "try:\n    safejson.loads('\"' + '\\\\\"' * 500_000)\n"
            "except safejson.UnsafeJson as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "invalid JSON (JSONDecodeError)"


def test_strings_still_hide_their_brackets_from_the_depth_check() -> None:
    assert safejson.nesting('{"a": "x\\"[[[[", "b": [[1]]}') == 3
    assert safejson.nesting('{"a": "[[[\\\\", "b": [[1]]}') == 3
    assert safejson.loads('{"a": "x\\"[[[[", "b": [[1]]}') == {"a": 'x"[[[[', "b": [[1]]}


def test_an_integer_too_long_for_a_float_is_no_crash() -> None:
    """A 400-digit `cost` parsed as an int; comparing it (`math.isfinite`) raised
    OverflowError and took the daemon down (exit 1, no summary; the settler's task died at
    every look, the call never counted)."""
    from bridge.call.summary import outcome

    body = safejson.loads('{"status": "ended", "cost": ' + "9" * 300 + ', "n": 12}')
    assert body["n"] == 12 and isinstance(body["n"], int)
    assert outcome(body, "ended") == ("ended", None)
    with pytest.raises(safejson.UnsafeJson):  # past a float's range, as 1e999 is
        safejson.loads('{"status": "ended", "cost": ' + "9" * 400 + "}")
    assert outcome({"cost": 1.7e308}, "x") == ("x", None), "no 309-digit dollar figure"
    assert outcome({"cost": 12345678901234567890123}, "x") == ("x", None)
    assert outcome({"cost": 0.25}, "x") == ("x", 0.25)


def test_a_listed_call_whose_name_is_no_string_is_not_ours() -> None:
    """`GET /call` after a lost create: a name that is a list raised TypeError (unhashable),
    exit 1 and the daemon down, where it should look on."""
    import asyncio

    from bridge.vapi.created import find_created

    async def listing(_what: str, **_params: object) -> list[object]:
        return [{"name": ["x"]}, {"name": {"a": 1}}, {"name": 7}]

    assert asyncio.run(find_created(listing, ["kiosk #1234abcd"], 0.0, "x")) is None


def test_a_key_an_error_body_echoes_is_masked_before_the_cut() -> None:
    """A 401 body of 285 characters, then the key: cut to 300 first, the key's first 14
    characters no longer matched the registered key, and were printed."""
    from bridge import redact
    from bridge.vapi.api import response_message

    key = "sk_FAKEAPIKEY_c0ffee_5ecret"
    redact.register(key, "the API key")
    try:
        said = response_message(b"y" * 285 + key.encode(), "Unauthorized")
        assert "sk_FAKE" not in said and said.startswith("y" * 285), said
    finally:
        redact.release(key)
