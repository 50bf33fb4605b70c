"""What a listen stream's text frames may announce: a start frame's channels and sampleRate
are taken within bounds (1 or 2 channels, 8000 to 48000 Hz) and refused with one inert line
otherwise; other frames' are followed within the same bounds or ignored; the overrides are
checked too; and the bytes carried between binary messages never reach a whole frame."""

from __future__ import annotations

import pytest

from bridge.errors import Refused, UsageError
from bridge.inert import is_inert
from bridge.vapi.listen_format import Announced, Frames, announced, check_override

BAD_CHANNELS = [10**9, -1, 0, 3, "2", 2.5, True, False, float("nan"), float("inf"), [],
                ["a", "b", "c"], {"n": 2}]
BAD_RATES = [10**12, -16000, 0, 7999, 48001, 96000, "16000", 16000.5, True,
             float("nan"), [16000]]


def start(**fields: object) -> dict[str, object]:
    return {"type": "start", "encoding": "linear16", "container": "raw", **fields}


@pytest.mark.parametrize("channels", BAD_CHANNELS)
def test_a_start_frame_with_channels_it_cannot_play_is_refused(channels: object) -> None:
    with pytest.raises(Refused, match=r"^the listen stream announced channels ") as err:
        announced(start(channels=channels, sampleRate=16000))
    assert "not a stream listen can play" in str(err.value)
    assert "--channels/--rate" in str(err.value) and is_inert(str(err.value))


@pytest.mark.parametrize("rate", BAD_RATES)
def test_a_start_frame_with_a_rate_it_cannot_play_is_refused(rate: object) -> None:
    with pytest.raises(Refused, match=r"^the listen stream announced sampleRate "):
        announced(start(channels=2, sampleRate=rate))


def test_the_refusal_shows_what_was_announced_inert_and_short() -> None:
    with pytest.raises(Refused) as err:
        announced(start(channels="\x1b[2J\u202e" + "x" * 10**5, sampleRate=10**12))
    message = str(err.value)
    assert message.startswith('the listen stream announced channels "\\u001b[2J\\u202e')
    assert "… and sampleRate 1000000000000: " in message
    assert len(message) < 400 and is_inert(message)


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 20000, 44000, 44100, 48000])
def test_what_vapi_sends_is_taken(rate: int) -> None:
    assert announced(start(channels=2, sampleRate=rate)) == Announced(2, rate, None)
    assert announced(start(channels=1, sampleRate=float(rate))) == Announced(1, rate, None)
    assert announced(start(channels=["customer", "assistant"])) == \
        Announced(2, None, ("customer", "assistant"))


def test_null_is_not_announced_and_labels_are_cut_short_and_inert() -> None:
    assert announced(start(channels=None, sampleRate=None)) == Announced()
    said = announced(start(channels=["c" * 1000, {"x": 1}]))
    assert said.labels == ("c" * 64 + "…", "{'x': 1}")
    assert announced(start(channels=["a\x1b[2J", "b\n<0>"])).labels == ("a\\x1b[2J",
                                                                        "b\\n<0>")


def test_other_frames_are_followed_only_within_bounds() -> None:
    assert announced({"type": "media", "channels": 10**9, "sampleRate": -1}) == Announced()
    assert announced({"channels": 1, "sampleRate": 8000}) == Announced(1, 8000, None)


def test_an_override_is_neither_read_nor_checked_but_must_itself_be_playable() -> None:
    frame = start(channels=10**9, sampleRate=10**12)
    assert announced(frame, channels=2, rate=16000) == Announced()
    with pytest.raises(Refused, match="sampleRate"):
        announced(frame, channels=2)
    check_override(None, None)
    check_override(1, 48000)
    for channels, rate in ((0, None), (3, None), (-1, None), (None, 0), (None, 10**12)):
        with pytest.raises(UsageError, match=r"^--(channels|rate) "):
            check_override(channels, rate)


def test_an_unknown_encoding_is_refused_as_before() -> None:
    with pytest.raises(Refused, match="announced encoding 'opus'; only linear16"):
        announced(start(encoding="opus", channels=2, sampleRate=16000))


@pytest.mark.parametrize("frame", [2, 4])
def test_the_carry_never_holds_a_whole_frame(frame: int) -> None:
    frames = Frames(frame)
    total = 0
    for size in [0, 1, 3, 4093, 1, 1, 7, 2**16 + 1] * 5:
        total += len(frames.take(b"\x01" * size))
        assert len(frames.carry) < frame
    assert total % frame == 0 and total + len(frames.carry) == 5 * sum(
        [0, 1, 3, 4093, 1, 1, 7, 2**16 + 1])
