"""A say POSTed to the controlUrl is told to the call as it is sent (Vapi may speak it
before its answer is back: told after, its start would be cut), so that the reply speaking
it is known. One Vapi refuses (a 4xx) is told again as `refused`: else the model's next
reply was taken for it, and a say the visitor may not interrupt made that reply one they
could not cut. Over real HTTP on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bridge.errors import BridgeError
from bridge.vapi import messages
from bridge.vapi.api import VapiApi
from bridge.vapi.callinfo import CallInfo
from bridge.vapi.commands import CallCommands
from tests.network.test_bounded_answers import CALL_ID, RawServer, fixed


async def _no_socket(_: dict) -> None:
    raise AssertionError("the say goes by the controlUrl only")


def test_a_say_the_controlurl_refuses_is_told_as_refused() -> None:
    say = messages.say("Please wait here.", interruptions=False)

    async def go() -> tuple[list[Any], list[Any]]:
        routes = {("POST", "/control"): fixed(400, b'{"message": "Invalid message"}')}
        told: list[Any] = []
        refused: list[Any] = []
        async with RawServer(routes) as server, asyncio.timeout(20), \
                VapiApi(server.url, "private-key", timeout=2.0) as api:
            commands = CallCommands(api, _no_socket, via="control-url", public_key=None,
                                    allow_plaintext=True, timeout=2.0, sent=told.append,
                                    refused=refused.append)
            commands.info = CallInfo.from_body({
                "id": CALL_ID, "monitor": {"controlUrl": f"{server.url}/control"}})
            with pytest.raises(BridgeError):
                await commands.send(say)
        return told, refused

    told, refused = asyncio.run(go())
    assert told == [say], "told as it was POSTed"
    assert len(refused) == 1 and refused[0] is say, "and again as refused"
