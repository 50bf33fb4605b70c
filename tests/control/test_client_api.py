"""The documented Python API (bridge.client): place a call, steer it, listen to it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import yaml

from bridge.audio.files import ClockedSink, NullSource
from bridge.client import (
    AssistantSpeechStarted,
    AudioChunk,
    ListenEvent,
    ProfileError,
    Refused,
    Transcript,
    listen,
    open_call,
)
from bridge.profile import load_profile
from tests.control.conftest import received
from tests.e2e.conftest import KEY, ProfileBuilder
from tests.e2e.replies import speech_blocks


def test_open_call_say_events_listen_end(start_sim, profiles: ProfileBuilder,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    sim = start_sim(assistant="echo")
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    profile = profiles.write(sim.base_url, call={"max_duration_seconds": 30})
    heard: list[AudioChunk] = []
    frames: list[ListenEvent] = []

    async def scenario() -> tuple[str, str, list[str]]:
        # one override given as a string is one override (it was read letter by letter)
        async with open_call(str(profile), overrides="call.max_duration_seconds=40") as call:
            assert call.status in ("connected", "in-progress")

            async def monitor() -> None:
                async for item in listen(await call.listen_url()):
                    if isinstance(item, ListenEvent):
                        frames.append(item)
                    else:
                        heard.append(item)
                    if sum(c.seconds for c in heard) >= 1.0:
                        return

            listener = asyncio.create_task(monitor())
            via = await call.say("Hello from a script.")
            said = []
            async for event in call.events():
                if isinstance(event, Transcript) and event.final:
                    said.append(event.text)
                    break
            await asyncio.wait_for(listener, 10)
            await call.end()
            with pytest.raises(Refused, match="no call in progress"):
                await call.say("too late")
        assert call.summary is not None
        return via, call.summary.ended_reason, said

    via, reason, said = asyncio.run(scenario())
    assert via == "socket"
    assert said == ["Hello from a script."]
    assert reason == "customer-ended-call"
    assert frames[0].type == "start" and frames[0].data["channels"] == 2
    chunk = heard[0]
    assert chunk.rate == 16000 and chunk.channels == 2 and chunk.samples.dtype == np.int16
    assert chunk.labels is None  # Vapi's start frame gives a count, not which party is where
    assert np.array_equal(chunk.channel(1), chunk.samples[:, 1])
    record = sim.only_call()
    assert [m["type"] for _, m in received(record)] == ["say", "end-call"]


def test_captions_event_when_opted_in(start_sim, profiles: ProfileBuilder,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`assistant.speechStarted` (opt-in in clientMessages) arrives as its own event."""
    sim = start_sim(assistant="echo")
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    profile = profiles.write(sim.base_url, call={"max_duration_seconds": 30}, assistant={
        "id": "echo", "overrides": {"firstMessage": "", "clientMessages": [
            "status-update", "speech-update", "transcript", "assistant.speechStarted"]}})

    async def scenario() -> list[AssistantSpeechStarted]:
        started: list[AssistantSpeechStarted] = []
        async with open_call(str(profile)) as call:
            await call.say("Your visitor badge is printing.")
            async for event in call.events():
                if isinstance(event, AssistantSpeechStarted):
                    started.append(event)
                if isinstance(event, Transcript) and event.final:
                    break
        return started

    started = asyncio.run(scenario())
    assert [(e.text, e.turn, e.source) for e in started] == [
        ("Your visitor badge is printing.", 0, "force-say")]


def test_control_url_400_is_a_refusal_naming_the_likely_cause(
        start_sim, profiles: ProfileBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = start_sim(assistant="echo")
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    profile = profiles.write(sim.base_url, call={"commands_via": "control-url"})

    async def scenario() -> tuple[str, str]:
        async with open_call(str(profile)) as call:
            with pytest.raises(Refused) as bad:
                await call.send({"type": "dance"})
            live = call.call
            await call.end()
        with pytest.raises(Refused) as ended:  # straight to the URL, as a late command would
            await live.commands.post_control({"type": "say", "content": "Too late."})
        return str(bad.value), str(ended.value)

    bad, ended = asyncio.run(scenario())
    assert bad.startswith("the controlUrl refused dance (400: unknown message type")
    # a call's commands kept after the call itself is let go: still a refusal (its parts
    # call it back through weak references), not a ReferenceError (reread helper)

    async def kept() -> str:
        async with open_call(str(profile)) as call:
            commands = call.call.commands
        del call
        with pytest.raises(Refused) as gone:
            await commands.send({"type": "end-call"})
        return str(gone.value)

    assert asyncio.run(kept()).startswith("no call in progress (call ")
    assert ended.startswith("the controlUrl refused say (400: No active call")
    assert "the call may have ended" in ended
    assert "http" not in bad + ended


@pytest.mark.parametrize(("overrides", "loaded", "expected"), [
    (["audio.nope=1"], False, "override audio.nope: unknown key"),
    ("audio.input", False, "override 'audio.input': expected SECTION.KEY=VALUE"),
    (["audio.input=null"], True, "overrides apply to a profile loaded by name or path"),
])
def test_open_call_refuses_bad_overrides_in_the_api_s_own_words(
        profiles: ProfileBuilder, overrides: str | list[str], loaded: bool,
        expected: str) -> None:
    """Before any call is placed; never in the words of a `--set` the script never typed,
    and never silently ignored (overrides with a loaded Profile were)."""
    path = profiles.write("http://127.0.0.1:9")
    profile = load_profile(str(path)) if loaded else str(path)

    async def scenario() -> None:
        async with open_call(profile, overrides=overrides):
            raise AssertionError("no call is placed")

    with pytest.raises(ProfileError) as err:
        asyncio.run(scenario())
    assert str(err.value).startswith(expected), err.value
    assert "--set" not in str(err.value)


def test_a_goodbye_sent_whole_is_played_before_open_call_returns(
        start_sim, profiles: ProfileBuilder, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The assistant's goodbye (its endCall), sent whole: Vapi ends the call 0.3 s later,
    and leaving the block must not close the speaker on the rest. The speaker is a `null`
    output clocked in real time; what it played is what its played ring received."""
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump([{"tone": 700, "ms": 3000, "wait": False,
                                       "endCall": True}]))
    sim = start_sim(assistant=f"script:{script}", downlink_speed=float("inf"))
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    profile = load_profile(str(profiles.write(sim.base_url, assistant={"overrides": {}})))
    sink = ClockedSink(profile.wire.sample_rate, playout=profile.audio.playout)
    played = sink.add_played_ring(10.0)

    async def scenario() -> tuple[str, np.ndarray]:
        async with open_call(profile, audio=(NullSource(profile.wire.sample_rate), sink)
                             ) as call:
            async for _ in call.events():
                pass  # until Vapi ends it
        assert call.summary is not None
        return call.summary.ended_reason, played.take()

    reason, heard = asyncio.run(scenario())
    tone_s = speech_blocks(heard, profile.wire.sample_rate).sum() / 100
    assert reason == "assistant-ended-call"
    assert tone_s >= 2.9, f"the speaker played {tone_s:.2f} s of the 3 s goodbye"


def test_events_read_again_after_the_call_ended_end_at_once(
        start_sim, profiles: ProfileBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    """A script breaks out of `call.events()` (at a tool call, say), the call ends, and it
    reads `call.events()` again inside the block: it gets what was left and the end. It
    waited for ever (the one end marker was the first loop's)."""
    sim = start_sim(assistant="echo")
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    profile = profiles.write(sim.base_url, call={"max_duration_seconds": 30})

    async def scenario() -> tuple[int, int]:
        async with open_call(str(profile)) as call:
            await call.end()
            first = [e async for e in call.events()]

            async def again() -> int:
                return len([e async for e in call.events()])

            second = await asyncio.wait_for(again(), 10)  # a hang guard, not a measure
        return len(first), second

    first, second = asyncio.run(scenario())
    assert first > 0 and second == 0, (first, second)


def test_the_api_refuses_what_ctl_refuses_before_sending_it(
        start_sim, profiles: ProfileBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty `say` and an unknown role were sent (`ctl` refuses both, exit 2); now a
    ValueError, and the simulator received neither."""
    sim = start_sim(assistant="echo")
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    profile = profiles.write(sim.base_url, call={"max_duration_seconds": 30})

    async def scenario() -> list[str]:
        refused = []
        async with open_call(str(profile)) as call:
            for attempt in (call.say("  "), call.add_message(""),
                            call.add_message("hello", role="robot")):
                try:
                    await attempt
                except ValueError as exc:
                    refused.append(str(exc))
            await call.end()
        return refused

    refused = asyncio.run(scenario())
    assert refused == ["say: the text is empty — give the words to send",
                       "add_message: the text is empty — give the words to send",
                       "add_message: role 'robot' is not one of system, user, assistant"]
    sent = [m.get("type") for _, m in received(sim.calls()[0])]
    assert "say" not in sent and "add-message" not in sent, sent


def test_a_script_is_not_promised_a_daemon_that_asks_again(
        start_sim, profiles: ProfileBuilder, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A script's call whose end Vapi never confirmed, nor could be asked about: the warning
    said "asked again every 30 s while the daemon runs, and at its next start", to a script
    that has no daemon, and nothing asks again once its call is closed. It says so, and
    where to look."""
    sim = start_sim(assistant="echo", faults=("ws-drop=0.2", "lookup-500"))
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    profile = profiles.write(sim.base_url, call={"end_timeout_seconds": 0.3})

    async def scenario() -> None:
        async with open_call(str(profile)) as call:
            await asyncio.sleep(0.5)  # the link dead (ws-drop), not yet found lost
        assert call.summary is not None

    with caplog.at_level("WARNING", logger="bridge"):
        asyncio.run(scenario())
    said = [r.getMessage() for r in caplog.records if "could not read the call's outcome"
            in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in caplog.records]
    assert said[0].endswith("; Vapi never confirmed the end: Vapi may bill it until Vapi "
                            "ends it, and nothing asks again once this script's call is "
                            "closed: Vapi's dashboard shows whether it goes on"), said
