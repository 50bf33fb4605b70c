"""The listen socket and the control endpoint, with plain clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import numpy as np
import pytest
import soxr
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.sim.conftest import (
    PUBLIC_KEY,
    Peer,
    best_corr,
    create_call,
    monitor,
    post_control,
    run,
    sim_report,
    simulator,
    voiced,
    ws_body,
)
from tests.sim.listen_mix import assert_heard_to_the_end


class Listener:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.pcm = bytearray()
        self.task: asyncio.Task[Any] | None = None
        self.close_code: int | None = None

    async def start(self, url: str, headers: dict[str, str] | None = None) -> None:
        ws = await connect(url, additional_headers=headers or {}, max_size=None)

        async def rx() -> None:
            with contextlib.suppress(Exception):
                async for msg in ws:
                    if isinstance(msg, bytes):
                        self.pcm += msg
                    else:
                        self.texts.append(msg)
            self.close_code = ws.close_code

        self.task = asyncio.create_task(rx())

    def channels(self) -> tuple[np.ndarray, np.ndarray]:
        x = np.frombuffer(bytes(self.pcm[: len(self.pcm) // 4 * 4]), dtype="<i2")
        return x[0::2], x[1::2]


@pytest.mark.parametrize("swap", [False, True])
def test_listen_streams_both_legs_on_the_documented_channels(swap: bool) -> None:
    async def body() -> None:
        async with simulator(speech="tones") as sim:
            params = {"fault": "listen-swap"} if swap else None
            call = await create_call(sim, ws_body(fmt="pcm_s16le", rate=8000, firstMessage=""),
                                     params=params)
            mon = await monitor(sim, call["id"])
            listener = Listener()
            await listener.start(mon["listenUrl"])
            peer = await Peer.open(call["transport"]["websocketCallUrl"], rate=8000)
            voice = voiced(0.8, 8000, f0=170.0)
            peer.speak(voice)
            await peer.wait_event("speech-update", role="assistant", status="stopped", timeout=10)
            await asyncio.sleep(0.3)
            await peer.send_json({"type": "end-call"})
            assert listener.task is not None
            await asyncio.wait_for(listener.task, 5)  # closed by the server when the call ends
            start = json.loads(listener.texts[0])
            # Vapi's shape: channels a number, which party is where left unsaid
            assert start == {"type": "start", "encoding": "linear16", "container": "raw",
                             "sampleRate": 16000, "channels": 2}
            left, right = listener.channels()
            customer, assistant = (right, left) if swap else (left, right)
            voice16 = np.asarray(soxr.resample(voice, 8000, 16000), dtype=np.int16)
            up_score, up_lag = best_corr(customer, voice16)
            down_score, down_lag = best_corr(assistant, voice16)
            # the visitor is on the customer channel, its echo later on the assistant channel
            assert up_score > 0.9 and down_score > 0.9
            assert down_lag > up_lag + len(voice16)
            assert abs(len(left) - len(right)) == 0
            mix = (await sim_report(sim, call["id"]))["listen"]
            assert_heard_to_the_end(len(left), mix, 16000)
            await peer.close()

    run(body())


def test_listen_authentication_and_refusals() -> None:
    async def body() -> None:
        async with simulator() as sim:
            call = await create_call(sim, ws_body(firstMessage="", monitorPlan={
                "listenAuthenticationEnabled": True}))
            url = (await monitor(sim, call["id"]))["listenUrl"]
            with pytest.raises(InvalidStatus) as err:
                await connect(url)
            assert err.value.response.status_code == 401
            listener = Listener()
            await listener.start(url, {"Authorization": f"Bearer {PUBLIC_KEY}"})
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await peer.wait_event("status-update", status="in-progress")
            await asyncio.sleep(0.3)
            assert listener.texts and len(listener.pcm) > 0
            await peer.send_json({"type": "end-call"})
            assert listener.task is not None
            await asyncio.wait_for(listener.task, 5)
            with pytest.raises(InvalidStatus) as err:
                await connect(url, additional_headers={"Authorization": f"Bearer {PUBLIC_KEY}"})
            assert err.value.response.status_code == 410
            await peer.close()

    run(body())


def test_control_endpoint_lifecycle() -> None:
    async def body() -> None:
        async with simulator(speech="tones") as sim:
            call = await create_call(sim)
            url = (await monitor(sim, call["id"]))["controlUrl"]
            early = await post_control(url, {"type": "say", "content": "Too early."})
            assert early.status_code == 400  # not in progress yet
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await peer.wait_event("status-update", status="in-progress")

            r = await post_control(url, {"type": "say", "content": "Hello from control."})
            assert r.status_code == 200 and r.json() == {"ok": True}
            assert r.headers["Connection"].lower() == "close"
            await peer.wait_event("transcript", transcriptType="final",
                                  transcript="Hello from control.")
            bad = await post_control(url, None, raw=b"{oops")
            assert bad.status_code == 400 and bad.headers["Connection"].lower() == "close"
            unknown = await post_control(url, {"type": "dance"})
            assert unknown.status_code == 400
            missing = await post_control(url.replace(call["id"], "00000000-0000-7000-8000-"
                                                     "000000000000"), {"type": "end-call"})
            assert missing.status_code == 400  # Vapi: 400, not 404
            assert missing.headers["Connection"].lower() == "close"

            # destinations Vapi's schema refuses for a client's transfer (to a number or a
            # SIP URI, with its number or URI) are refused here too: 400, no transfer
            for dest, why in (({"type": "assistant", "assistantName": "Desk"},
                               "destination.type must be one of the following values: "
                               "number, sip"),
                              ({"type": "number"}, "destination.number should not be empty"),
                              ({"type": "sip", "sipUri": "sip:a@b", "to": 1},
                               "destination.property to should not exist")):
                refused = await post_control(url, {"type": "transfer", "destination": dest})
                assert refused.status_code == 400 and why in refused.text, refused.text
            # a boolean given as text ("false" is true to Python) is refused, not obeyed
            text_flag = await post_control(url, {"type": "say", "content": "Still here.",
                                                 "endCallAfterSpoken": "false"})
            assert text_flag.status_code == 400
            assert "endCallAfterSpoken must be a boolean value" in text_flag.text
            assert (await sim_report(sim, call["id"]))["status"] == "in-progress"

            handoff = {"type": "handoff", "destination": {
                "type": "assistant", "assistantId": "next-one",
                "contextEngineeringPlan": {"type": "none"}}, "content": "Handing you over."}
            assert (await post_control(url, handoff)).status_code == 200
            await peer.wait_event("transcript", transcriptType="final",
                                  transcript="Handing you over.")
            mute = await post_control(url, {"type": "control", "control": "mute-assistant"})
            assert mute.status_code == 200
            assert (await sim_report(sim, call["id"]))["state"]["assistantMuted"] is True

            r = await post_control(url, {"type": "end-call"})
            assert r.status_code == 200
            ended = await peer.wait_event("status-update", status="ended")
            assert ended["endedReason"] == "customer-ended-call"
            after = await post_control(url, {"type": "say", "content": "Too late."})
            assert after.status_code == 400 and after.headers["Connection"].lower() == "close"
            rep = await sim_report(sim, call["id"])
            assert rep["handoffs"][0]["destination"]["assistantId"] == "next-one"
            sources = {m["source"] for m in rep["messagesReceived"]}
            assert sources == {"control"}
            await peer.close()

    run(body())


def test_control_authentication() -> None:
    async def body() -> None:
        async with simulator() as sim:
            call = await create_call(sim, ws_body(firstMessage="", monitorPlan={
                "controlAuthenticationEnabled": True}))
            url = (await monitor(sim, call["id"]))["controlUrl"]
            peer = await Peer.open(call["transport"]["websocketCallUrl"])
            await peer.wait_event("status-update", status="in-progress")
            r = await post_control(url, {"type": "control", "control": "mute-customer"})
            assert r.status_code == 401
            r = await post_control(url, {"type": "control", "control": "mute-customer"},
                                   {"Authorization": f"Bearer {PUBLIC_KEY}"})
            assert r.status_code == 200
            assert (await sim_report(sim, call["id"]))["state"]["customerMuted"] is True
            await peer.close()

    run(body())
