"""`say` as Vapi delivers it: accepted by the controlUrl but spoken late or never, and the
opt-in `assistant.speechStarted` captions event."""

from __future__ import annotations

from typing import Any

from bridge.sim import Simulator
from tests.sim.conftest import (
    Peer,
    get_json,
    monitor,
    open_call,
    post_control,
    run,
    sent_at,
    sim_report,
    simulator,
    ws_body,
)

CAPTIONS = ["status-update", "speech-update", "transcript", "assistant.speechStarted"]


async def open_call_with_control(sim: Simulator, fault: str | None = None,
                                 **overrides: Any) -> tuple[dict, Peer, str]:
    params = {"fault": fault} if fault else None
    call, peer = await open_call(sim, ws_body(firstMessage="", **overrides), params=params)
    return call, peer, (await monitor(sim, call["id"]))["controlUrl"]


def event_at(report: dict, type_: str, **fields: Any) -> float:
    return sent_at(report, type_, **fields)[0]


def test_say_late_is_accepted_at_once_and_spoken_later() -> None:
    async def body() -> None:
        async with simulator(speech="tones") as sim:
            call, peer, url = await open_call_with_control(sim, "say-late=1500")
            r = await post_control(url, {"type": "say", "content": "Your badge is ready."})
            assert r.status_code == 200 and r.headers["Connection"].lower() == "close"
            await peer.wait_event("transcript", transcriptType="final",
                                  transcript="Your badge is ready.", timeout=10)
            rep = await sim_report(sim, call["id"])
            accepted = rep["controlRequests"][0]
            assert accepted["delivery"] == "late 1.50 s"
            spoken = event_at(rep, "speech-update", role="assistant", status="started")
            assert spoken >= accepted["at"] + 1.5  # on the simulator's own clock
            await peer.close()

    run(body())


def test_say_late_without_a_delay_picks_one_from_what_was_measured() -> None:
    async def body() -> None:
        async with simulator(speech="tones", seed=3) as sim:
            call, peer, url = await open_call_with_control(sim, "say-late")
            assert (await post_control(url, {"type": "say", "content": "Hi."})).status_code == 200
            rep = await sim_report(sim, call["id"])
            delay = float(rep["controlRequests"][0]["delivery"].split()[1])
            assert 0.3 <= delay <= 10.0
            await peer.close()

    run(body())


def test_say_lost_is_accepted_and_never_spoken() -> None:
    async def body() -> None:
        async with simulator(speech="tones") as sim:
            call, peer, url = await open_call_with_control(sim, "say-lost=1")
            lost = await post_control(url, {"type": "say", "content": "Lost line."})
            assert lost.status_code == 200  # accepted: no error, no event
            spoken = await post_control(url, {"type": "say", "content": "Second line."})
            assert spoken.status_code == 200
            await peer.wait_event("transcript", transcriptType="final",
                                  transcript="Second line.", timeout=10)
            assert not peer.find("transcript", transcript="Lost line.")
            rep = await sim_report(sim, call["id"])
            assert [r.get("delivery") for r in rep["controlRequests"]] == ["lost", None]
            await peer.close()

    run(body())


def test_say_end_call_after_spoken_through_the_control_url() -> None:
    async def body() -> None:
        async with simulator(speech="tones") as sim:
            call, peer, url = await open_call_with_control(sim)
            r = await post_control(url, {"type": "say", "content": "Goodbye.",
                                    "endCallAfterSpoken": True})
            assert r.status_code == 200
            ended = await peer.wait_event("status-update", status="ended", timeout=10)
            assert ended["endedReason"] == "assistant-ended-call-after-message-spoken"
            got = await get_json(sim, f"/call/{call['id']}", auth=True)
            assert got["endedReason"] == "assistant-ended-call-after-message-spoken"
            assert got["endedMessage"]
            after = await post_control(url, {"type": "say", "content": "Too late."})
            assert after.status_code == 400
            await peer.close()

    run(body())


def test_speech_started_is_sent_only_when_opted_in_and_not_for_control_say() -> None:
    async def body() -> None:
        async with simulator(speech="tones") as sim:
            _, peer, url = await open_call_with_control(sim, clientMessages=CAPTIONS)
            await peer.send_json({"type": "say", "content": "Welcome to the front desk."})
            started = await peer.wait_event("assistant.speechStarted", timeout=10)
            assert started == {"type": "assistant.speechStarted",
                               "text": "Welcome to the front desk.", "turn": 0,
                               "source": "force-say"}
            await peer.wait_event("speech-update", role="assistant", status="stopped")
            said = await post_control(url, {"type": "say", "content": "Via control."})
            assert said.status_code == 200
            await peer.wait_event("transcript", transcriptType="final", transcript="Via control.")
            assert len(peer.find("assistant.speechStarted")) == 1  # none for a controlUrl say
            assert not peer.find("conversation-update")  # not in clientMessages
            await peer.close()

            _, plain, _ = await open_call_with_control(sim)
            await plain.send_json({"type": "say", "content": "No captions."})
            await plain.wait_event("transcript", transcriptType="final", transcript="No captions.")
            assert not plain.find("assistant.speechStarted")  # not in Vapi's default list
            await plain.close()

    run(body())


def test_a_say_interrupting_the_assistant_replaces_a_line_the_visitor_may_not_cut() -> None:
    """`interruptAssistantEnabled`: "whether the message should replace existing assistant
    speech" (the schema). The simulator let a line the visitor may not interrupt (here a
    say with `interruptionsEnabled: false`; the first message alike) play on, the say
    after it: 3x delivery sent seconds of it more, heard after the operator's cut."""
    async def body() -> None:
        async with simulator(speech="tones") as sim:
            _, peer, _ = await open_call_with_control(sim)
            await peer.send_json({"type": "say", "content": " ".join(["Please wait."] * 20),
                                  "interruptionsEnabled": False})
            await peer.wait_event("speech-update", role="assistant", status="started")
            await peer.send_json({"type": "say", "content": "Sorry to cut in.",
                                  "interruptAssistantEnabled": True})
            await peer.wait_event("transcript", transcriptType="final",
                                  transcript="Sorry to cut in.", timeout=10)
            finals = [e["transcript"] for e in peer.find("transcript", transcriptType="final")]
            assert " ".join(["Please wait."] * 20) not in finals, "the long line was cut"
            turns = [(e["status"], e["turn"]) for e in
                     peer.find("speech-update", role="assistant")]
            assert turns[:3] == [("started", 0), ("stopped", 0), ("started", 1)], turns
            await peer.close()

    run(body())
