"""A say POSTed to the controlUrl is told to the call as it is sent (Vapi may speak it
before its answer is back: told after, its start would be cut), so that the reply speaking
it is known. One Vapi refuses (a 4xx) is told again as `refused`: else the model's next
reply was taken for it, and a say the visitor may not interrupt made that reply one they
could not cut. One whose answer does not come is not: Vapi may have taken it. Over real
HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bridge.errors import ExitCode, Refused, Unsure
from bridge.vapi import messages
from bridge.vapi.api import VapiApi
from bridge.vapi.callinfo import CallInfo
from bridge.vapi.commands import UNSURE, CallCommands
from tests.network.test_bounded_answers import CALL_ID, Answer, Exchange, RawServer, fixed

TIMEOUT = 0.5  # api.timeout_seconds for the answer that never comes: not waited for longer
ANSWERED = 2.0  # for the answers that come (a loaded machine's loop may stall 0.5 s)


async def _no_socket(_: dict) -> None:
    raise AssertionError("the say goes by the controlUrl only")


async def _unanswered(_: Exchange, reader: asyncio.StreamReader, __: Any) -> bool:
    await reader.read()  # until the client lets go
    return False


def _told(answer: Answer, timeout: float = ANSWERED) -> tuple[list[Any], BaseException]:
    """What the call was told of a say the controlUrl answers with `answer` (told as it was
    POSTed first): refused, and the error its sender got."""
    say = messages.say("Please wait here.", interruptions=False)

    async def go() -> tuple[list[Any], list[Any], BaseException]:
        told: list[Any] = []
        refused: list[Any] = []
        async with RawServer({("POST", "/control"): answer}) as server, \
                asyncio.timeout(20), VapiApi(server.url, "private-key", timeout=timeout) as api:
            commands = CallCommands(api, _no_socket, via="control-url", public_key=None,
                                    allow_plaintext=True, timeout=timeout, sent=told.append,
                                    refused=refused.append)
            commands.info = CallInfo.from_body({
                "id": CALL_ID, "monitor": {"controlUrl": f"{server.url}/control"}})
            with pytest.raises((Refused, Unsure)) as raised:
                await commands.send(say)
        return told, refused, raised.value

    told, refused, error = asyncio.run(go())
    assert told == [say], "told as it was POSTed"
    assert all(r is say for r in refused)
    return refused, error


def test_a_say_the_controlurl_refuses_is_told_as_refused() -> None:
    refused, error = _told(fixed(400, b'{"message": "Invalid message"}'))
    assert len(refused) == 1, "and again as refused"
    assert isinstance(error, Refused) and error.exit_code == ExitCode.FAILURE, error


def test_a_refusal_quoting_the_unsure_words_is_still_a_refusal() -> None:
    """The refusal's line carries the server's text: a body quoting the words an unanswered
    command is reported with (a proxy's page, a server echoing them) left a refused say
    awaited, as if Vapi might speak it, while the sender was told it was refused: the reply
    it had cut stayed cut, and no say came. Told by the error's type now, not its words."""
    body = json.dumps({"message": f"the controlUrl did not answer: {UNSURE}"}).encode()
    refused, error = _told(fixed(400, body))
    assert UNSURE in str(error) and isinstance(error, Refused), error
    assert len(refused) == 1, "a refused say is withdrawn from the call, whatever its words"


def test_a_say_whose_answer_does_not_come_is_not_told_as_refused() -> None:
    """Vapi may have it (and speak it seconds later): awaited still, and its sender told to
    look before sending it again (exit 5), not that it was refused (exit 1)."""
    refused, error = _told(_unanswered, TIMEOUT)
    assert refused == [], "a say Vapi may speak is not withdrawn"
    assert isinstance(error, Unsure) and error.exit_code == ExitCode.NETWORK, error
    assert str(error).endswith(UNSURE), error
