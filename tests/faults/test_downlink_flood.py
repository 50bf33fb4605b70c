"""Replies delivered the nastiest ways a socket can carry them.

- Tens of thousands of 1-7 byte frames (`tiny-frames`, downlink speed `whole`, written in
  one go): the bridge survives it, plays the reply whole and sends all of the visitor's
  words, in order. Reading such a backlog holds the loop up: websockets parses one read
  (256 KiB: up to 87,000 frames) and hands the frames over without letting the loop run,
  ~4 µs each; the downlink's work (~6 µs a chunk) is now paid once per read, not per frame
  (the call socket joins what one read brought), which cut the worst hold-up of a 1-7 byte
  flood from 585 to 389 ms (1 byte: 678 to 369 ms). A reader that let the loop run every
  16 messages halved it too, but a goodbye sent whole and closed at once then lost its
  last seconds on a loaded machine (2 runs in 18; the connection's reset discards what
  the client had not read yet), so it was taken out. What the hold-up costs the uplink:
  with this `file:` microphone the visitor is delayed, not dropped (each hold-up restarts
  the timer's schedule); with a device microphone the capture ring keeps what was said and
  it leaves after, at 2x real time (tests/faults/test_loop_hold.py). The visitor here is a ramp that
  names its sample positions: what reached the simulator is checked whole and in order as
  far as it got, not for a length — each hold-up delays the rest, and a loaded machine
  (a CPU hog beside it: 1.8 s of 2 in a 4 s call, 1 run in 4) let the call's end cut the
  last of it, which cost no word to the flood.
- One binary frame over a megabyte (a reply sent whole): heard.
"""

from __future__ import annotations

import io
import math
import urllib.request
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.faults.harness import Sim, case_dir, run_once, write_profile

pytestmark = pytest.mark.timeout(120)
RATE = 16000


def visitor(path: Path) -> None:
    """2 s from the first sample, a ramp whose every value names its sample position: the
    visitor talks as the greeting arrives."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((1 + np.arange(2 * RATE)).astype("<i2").tobytes())


def test_a_flood_of_tiny_frames_does_not_cost_the_visitor_words() -> None:
    with Sim(downlink_speed=math.inf) as sim, case_dir() as d:
        visitor(d / "visitor.wav")
        profile = write_profile(
            d, sim.base_url, audio={"input": f"file:{d / 'visitor.wav'}", "output": "null"},
            assistant={"overrides": {"maxDurationSeconds": 4, "firstMessage":
                                     "Welcome to the front desk. I can find rooms, people and "
                                     "deliveries for you, call a taxi, or tell you where the "
                                     "lifts, the cafe and the car park are. How can I help "
                                     "you today?"}})
        result = run_once(profile, "--fault", "tiny-frames")
        (call,) = sim.calls()
        with urllib.request.urlopen(f"{sim.base_url}/_sim/calls/{call['id']}/uplink.wav",
                                    timeout=10) as answer:
            up = answer.read()
    gap = call["uplink"]["maxGapMs"]
    print(f"\nthe uplink's longest gap at the simulator: {gap:.0f} ms; {result.out}")
    assert result.code == 0, result.err
    assert "received 1" in result.out, "the reply arrived whole (over 10 s of it)"
    with wave.open(io.BytesIO(up)) as w:
        assert w.getframerate() == RATE
        sent = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    heard = sent[sent != 0].astype(np.int64) - 1  # the positions: silence leads and follows
    assert np.array_equal(heard, np.arange(len(heard))), "the visitor's audio, whole and " \
        "in order as far as it got"
    assert len(heard) >= RATE // 2, f"{len(heard) / RATE:.2f} s of the visitor's 2 s sent"


def test_a_reply_sent_whole_in_one_frame_over_a_megabyte_is_heard() -> None:
    """A binary frame is audio up to 4 MiB: a reply sent whole, over 1 MiB (10.9 s of pcm at
    48 kHz, 32.8 s at 16 kHz), was dropped as an oversized message, said only with -v, and
    the visitor heard nothing of it."""
    line = ("Welcome to the front desk of the Riverside building. Visitors sign in here, and "
            "I can tell you where the lifts, the cafe, the car park and every office are. "
            "I can also call the person you are here to see, order a taxi, or take a "
            "delivery. Please tell me who you are and how I can help you today.")
    with Sim(downlink_speed=math.inf) as sim, case_dir() as d:
        profile = write_profile(d, sim.base_url, wire={"sample_rate": 48000},
                                assistant={"overrides": {"maxDurationSeconds": 3,
                                                         "firstMessage": line}})
        result = run_once(profile, "--fault", "one-frame")
        (call,) = sim.calls()
    assert result.code == 0, (result.err, call["status"])
    assert "ignored an oversized" not in result.err, result.err
    received = float(result.out.split("received ", 1)[1].split(" s", 1)[0])
    assert received > 10.9, (received, result.out)
