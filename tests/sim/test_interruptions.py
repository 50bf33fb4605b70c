"""What Vapi will and will not interrupt, as the simulator plays it: the first message
(`firstMessageInterruptionsEnabled`, default false), a `say` with `interruptionsEnabled`,
backchannels ("okay": short speech over the assistant), and `user-interrupted` carrying
the `turnId` of the cut reply, sent only once the visitor has spoken long enough."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from bridge.sim import SimConfig
from tests.sim.conftest import (
    AUTH,
    Peer,
    create_call,
    get_json,
    open_call,
    rms_dbfs,
    run,
    sent_at,
    sim_report,
    simulator,
    voiced,
    ws_body,
)

GREETING = "Welcome to the front desk. Please tell me your name and who you are here to see."
NOTICE = "Please note that the building closes at six tonight, and the garden at five."
WINDOW_S = 0.6  # SimConfig.backchannel_ms default
OKAY_S, REAL_S = 0.35, 1.2  # a backchannel, and an interruption


def transport(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in ws_body(**fields).items() if k != "assistantId"}


async def spoke_whole(peer: Peer, line: str) -> None:
    """The line's final transcript is the whole of it (a cut line's is the words sent)."""
    final = await peer.wait_event("transcript", role="assistant", transcriptType="final",
                                  timeout=20)
    assert final["transcript"] == line


async def talk_over(sim: Any, body: dict[str, Any], seconds: float, after: float = 0.5
                    ) -> tuple[dict[str, Any], Peer]:
    """A call on which the visitor speaks ``seconds`` of voice ``after`` seconds into the
    assistant's first line."""
    call = await create_call(sim, body)
    peer = await Peer.open(call["transport"]["websocketCallUrl"])
    await peer.wait_event("speech-update", role="assistant", status="started")
    await asyncio.sleep(after)
    peer.speak(voiced(seconds))
    return call, peer


def test_the_first_message_is_not_interrupted_by_default() -> None:
    async def body() -> None:
        async with simulator(speech="tones") as sim:
            call, peer = await talk_over(sim, ws_body(firstMessage=GREETING), REAL_S)
            await peer.wait_event("speech-update", role="user", status="started")
            await spoke_whole(peer, GREETING)
            # a real turn, not a backchannel: it is answered, after the greeting
            await peer.wait_event("model-output", timeout=10)
            await peer.wait_event("speech-update", role="assistant", status="started", turn=1)
            assert not peer.find("user-interrupted")
            rep = await sim_report(sim, call["id"])
            assert rep["options"]["firstMessageInterruptionsEnabled"] is False
            await peer.close()

    run(body())


def test_an_interruption_stops_the_line_at_once() -> None:
    async def body() -> None:
        async with simulator(speech="tones") as sim:
            call, peer = await talk_over(sim, ws_body(
                firstMessage=GREETING, firstMessageInterruptionsEnabled=True), REAL_S)
            interrupted = await peer.wait_event("user-interrupted")
            i_user = peer.events.index(peer.find("speech-update", role="user", status="started")[0])
            assert peer.events.index(interrupted) > i_user
            stopped = await peer.wait_event("speech-update", role="assistant", status="stopped")
            assert peer.events.index(stopped) > peer.events.index(interrupted)
            t_int = peer.event_times[peer.events.index(interrupted)] + peer.connected
            await asyncio.sleep(0.6)
            late = sum(n for t, n in peer.chunks if t > t_int + 0.25)
            tail = peer.received()[(len(peer.audio) - late) // 2:]
            assert len(tail) > 0 and rms_dbfs(tail) < -60  # the rest of the line is not sent
            got = await get_json(sim, f"/call/{call['id']}", True)
            assert GREETING not in [m["message"] for m in got["messages"]]
            assert (await sim_report(sim, call["id"]))["status"] == "in-progress"
            await peer.close()

    run(body())


@pytest.mark.parametrize("where", ["assistantOverrides", "assistant"])
def test_first_message_interruptions_enabled_is_honoured(where: str) -> None:
    fields = {"firstMessage": GREETING, "firstMessageInterruptionsEnabled": True}
    create = (ws_body(**fields) if where == "assistantOverrides"
              else {**transport(), "assistant": fields})

    async def body() -> None:
        async with simulator(speech="tones") as sim:
            _, peer = await talk_over(sim, create, REAL_S)
            await peer.wait_event("user-interrupted")
            final = await peer.wait_event("transcript", role="assistant",
                                          transcriptType="final")
            assert final["transcript"] != GREETING and GREETING.startswith(final["transcript"])
            await peer.close()

    run(body())


def test_a_backchannel_is_transcribed_but_interrupts_nothing_and_gets_no_reply() -> None:
    async def body() -> None:
        async with simulator(speech="tones") as sim:
            _, peer = await talk_over(sim, ws_body(firstMessage=GREETING,
                                                   firstMessageInterruptionsEnabled=True),
                                      OKAY_S, after=0.8)
            await peer.wait_event("speech-update", role="user", status="started")
            okay = await peer.wait_event("transcript", role="user", transcriptType="final")
            assert okay["transcript"] == f"(speech {OKAY_S:.1f} s)"
            await spoke_whole(peer, GREETING)
            await asyncio.sleep(1.5)
            assert not peer.find("user-interrupted")
            assert not peer.find("model-output"), "a backchannel starts no reply"
            # the same visitor, speaking long enough, does interrupt the next line
            await peer.send_json({"type": "say", "content": NOTICE})
            await peer.wait_event("speech-update", role="assistant", status="started", turn=1)
            await asyncio.sleep(0.5)
            peer.speak(voiced(REAL_S))
            await peer.wait_event("user-interrupted")
            await peer.close()

    run(body())


@pytest.mark.parametrize("window_ms", [600.0, 0.0])
def test_user_interrupted_names_the_cut_turn_once_the_visitor_spoke_long_enough(
        window_ms: float) -> None:
    async def body() -> None:
        async with simulator(speech="tones", backchannel_ms=window_ms) as sim:
            call = await create_call(sim)  # no greeting: the echo replies to the visitor
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await peer.wait_event("status-update", status="in-progress")
            peer.speak(voiced(2.0, seed=3))
            reply = await peer.wait_event("model-output", timeout=10)
            await peer.wait_event("speech-update", role="assistant", status="started")
            await asyncio.sleep(0.5)
            peer.speak(voiced(REAL_S))
            cut = await peer.wait_event("user-interrupted")
            assert cut["turnId"] == reply["turnId"]
            final = await peer.wait_event("transcript", role="assistant",
                                          transcriptType="final")
            assert final["transcript"] != reply["output"], "the reply was cut"
            rep = await sim_report(sim, call["id"])
            onset = sent_at(rep, "speech-update", role="user", status="started")[1]
            waited = sent_at(rep, "user-interrupted")[0] - onset
            # the decision is on the uplink's own clock (frames come every 20 ms in real
            # time), so the visitor's speech is at least the window old when it is made
            assert waited >= window_ms / 1000 - 0.1
            await peer.close()

    run(body())


@pytest.mark.parametrize("interruptions", [False, True])
def test_say_honours_interruptions_enabled(interruptions: bool) -> None:
    async def body() -> None:
        async with simulator(speech="tones") as sim:
            _, peer = await open_call(sim)
            await peer.send_json({"type": "say", "content": NOTICE,
                                  "interruptionsEnabled": interruptions})
            await peer.wait_event("speech-update", role="assistant", status="started")
            await asyncio.sleep(0.5)
            peer.speak(voiced(REAL_S))
            if interruptions:
                await peer.wait_event("user-interrupted")
                final = await peer.wait_event("transcript", role="assistant",
                                              transcriptType="final")
                assert final["transcript"] != NOTICE
            else:
                await spoke_whole(peer, NOTICE)
                assert not peer.find("user-interrupted")
            await peer.close()

    run(body())


def test_without_user_interrupted_in_client_messages_only_the_speech_start_is_sent() -> None:
    async def body() -> None:
        async with simulator(speech="tones") as sim:
            _, peer = await talk_over(sim, ws_body(
                firstMessage=GREETING, firstMessageInterruptionsEnabled=True,
                clientMessages=["speech-update", "transcript", "status-update"]), REAL_S)
            await peer.wait_event("speech-update", role="user", status="started")
            final = await peer.wait_event("transcript", role="assistant",
                                          transcriptType="final")
            assert final["transcript"] != GREETING, "Vapi still cut the line"
            assert not peer.find("user-interrupted"), "but did not say so"
            await peer.close()

    run(body())


def test_first_message_interruptions_enabled_must_be_a_boolean() -> None:
    async def body() -> None:
        async with simulator() as sim, httpx.AsyncClient(base_url=sim.base_url) as c:
            r = await c.post("/call", headers=AUTH,
                             json=ws_body(firstMessageInterruptionsEnabled="yes"))
            assert r.status_code == 400
            assert ("assistantOverrides.firstMessageInterruptionsEnabled must be a boolean "
                    "value") in r.json()["message"]

    run(body())


@pytest.mark.parametrize("ms", [-1.0, 10001.0])
def test_backchannel_ms_is_bounded(ms: float) -> None:
    with pytest.raises(ValueError, match="backchannel_ms"):
        SimConfig(backchannel_ms=ms)


def test_interruption_messages_out_of_order() -> None:
    """The faults that send `user-interrupted` as Vapi's schema allows it (`turnId`
    optional; nothing orders it against the speech-updates): without turnId, twice within
    300 ms, again in the next line, and the cut line's `speech-update started` after it."""
    faults = ("interrupt-no-turnid", "interrupt-twice=300", "interrupt-again=200",
              "stale-started=50")

    async def body() -> None:
        async with simulator(speech="tones", faults=faults) as sim:
            _, peer = await talk_over(sim, ws_body(
                firstMessage=GREETING, firstMessageInterruptionsEnabled=True), REAL_S)
            await peer.wait_event("user-interrupted")
            await peer.wait_event("speech-update", role="assistant", status="started", turn=1)
            await asyncio.sleep(0.4)
            sent = list(zip(peer.event_times, peer.events, strict=True))
            cuts = [(t, e) for t, e in sent if e["type"] == "user-interrupted"]
            assert [e for _, e in cuts] == [{"type": "user-interrupted"}] * 3
            assert 0.25 < cuts[1][0] - cuts[0][0] < 0.4, "the second 300 ms after the first"
            started = [(t, e) for t, e in sent if e["type"] == "speech-update"
                       and e["role"] == "assistant" and e["status"] == "started"]
            at = [t for t, _ in started]
            assert [e["turn"] for _, e in started] == [0, 0, 1]
            assert 0.03 < at[1] - cuts[0][0] < 0.1, "the cut line's started 50 ms after"
            assert 0.15 < cuts[2][0] - at[2] < 0.3, "said again 200 ms into the next line"
            await peer.close()

    run(body())
