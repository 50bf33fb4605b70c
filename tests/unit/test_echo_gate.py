"""The echo gate and its path estimate on synthetic rooms: the far end reaches the
microphone through a known delay and gain; a visitor talks over it from its first word.
Fed in 20 ms blocks as the uplink feeds them."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.audio.echo_analysis import Analysis
from bridge.audio.echo_gate import EchoGate
from tests.rig.heard import heard_after_ms

RATE = 48000
BLOCK = RATE // 50


def speechlike(seconds: float, seed: int, peak: float = 16000.0) -> np.ndarray:
    """Band-limited noise in syllables (120-250 ms on, 40-120 ms off), -6 dBFS peaks."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    noise = np.convolve(rng.standard_normal(n + 64), np.hanning(24), mode="same")[:n]
    env = np.zeros(n)
    i = 0
    while i < n:
        on = int(rng.uniform(0.12, 0.25) * RATE)
        env[i:i + on] = rng.uniform(0.3, 1.0) * np.hanning(on)[: n - i]
        i += on + int(rng.uniform(0.04, 0.12) * RATE)
    x = noise * env
    return (x / np.abs(x).max() * peak).astype(np.int16)


def room(far: np.ndarray, gain_db: float | None, delay_ms: float,
         visitor: np.ndarray | None = None, at: int = 0) -> np.ndarray:
    mic = np.zeros(len(far))
    if gain_db is not None:
        d = int(delay_ms * RATE / 1000)
        mic[d:] = far[: len(far) - d] * 10 ** (gain_db / 20)
    if visitor is not None:
        mic[at:at + len(visitor)] += visitor[: len(mic) - at]
    return np.clip(mic, -32768, 32767).astype(np.int16)


def run(gate: EchoGate, far: np.ndarray, mic: np.ndarray) -> np.ndarray:
    out = []
    for i in range(0, len(mic) - BLOCK + 1, BLOCK):
        gate.far(far[i:i + BLOCK])
        got = gate.near(mic[i:i + BLOCK])
        assert len(got) == BLOCK and got.dtype == np.int16
        out.append(got)
    return np.concatenate(out)


def energy(x: np.ndarray) -> float:
    return float(np.sum(x.astype(np.float64) ** 2))


FAR = np.concatenate((np.zeros(RATE // 2, np.int16), speechlike(6.0, seed=1)))
VISITOR = speechlike(2.0, seed=2)
FIRST_WORD = RATE // 2


@pytest.mark.parametrize("gain_db", [-20.0, -6.0])
def test_the_echo_alone_is_held_25_db_down_from_the_first_word(gain_db: float) -> None:
    mic = room(FAR, gain_db, 100)
    out = run(EchoGate(RATE), FAR, mic)
    down = 10 * np.log10(energy(mic[: len(out)]) / max(energy(out), 1.0))
    assert down >= 25, f"echo only {down:.1f} dB down"


def test_with_no_acoustic_path_the_visitor_passes_untouched() -> None:
    at = FIRST_WORD + RATE // 20
    mic = room(FAR, None, 0, VISITOR, at)
    out = run(EchoGate(RATE), FAR, mic)
    assert heard_after_ms(out, VISITOR, at, RATE) <= 20
    n = len(out)
    np.testing.assert_array_equal(out[at:min(n, at + len(VISITOR))],
                                  mic[at:min(n, at + len(VISITOR))])


@pytest.mark.parametrize("gain_db", [-20.0, -6.0])
@pytest.mark.parametrize("offset_ms", [0, 100, 2500])
def test_a_visitor_over_the_assistant_is_heard_at_once(gain_db: float, offset_ms: int) -> None:
    """From the first word (before the path has been measured) and later."""
    at = FIRST_WORD + int(offset_ms * RATE / 1000)
    mic = room(FAR, gain_db, 100, VISITOR, at)
    out = run(EchoGate(RATE), FAR, mic)
    assert heard_after_ms(out, VISITOR, at, RATE) <= 150


def test_double_talk_is_not_learned_as_echo() -> None:
    """A visitor talking from the assistant's first word, louder than the echo, leaves the
    measured echo return where it is: once they stop, the echo is held down again."""
    at = FIRST_WORD
    mic = room(FAR, -6.0, 100, VISITOR, at)
    gate = EchoGate(RATE)
    out = run(gate, FAR, mic)
    assert gate.path.lag is not None
    assert abs(10 * np.log10(gate.path.ratio) - (-6.0)) <= 2.0, "the echo return measured"
    after = at + len(VISITOR) + RATE // 2
    down = 10 * np.log10(energy(mic[after:len(out)]) / max(energy(out[after:]), 1.0))
    assert down >= 25, f"after the double talk the echo is only {down:.1f} dB down"


@pytest.mark.parametrize("step_ms", [-20, 20, 60])
def test_a_step_in_the_echo_path_is_not_taken_for_the_visitor(step_ms: int) -> None:
    """An underrun or a lost block moves the echo mid-line: the echo after the step is
    still held 25 dB down (it is re-measured, not let through as double talk)."""
    half = len(FAR) // 2
    mic = np.concatenate((room(FAR, -6.0, 100)[:half], room(FAR, -6.0, 100 + step_ms)[half:]))
    out = run(EchoGate(RATE), FAR, mic)
    down = 10 * np.log10(energy(mic[half:len(out)]) / max(energy(out[half:]), 1.0))
    assert down >= 25, f"after the step the echo is only {down:.1f} dB down"


def test_echo_removed_does_not_depend_on_block_sizes() -> None:
    """The uplink hands over whatever the device ring holds: 0, 1 or 2 blocks a tick."""
    mic = room(FAR, -6.0, 100)
    gate = EchoGate(RATE)
    rng = np.random.default_rng(3)
    out, i = [], 0
    while i < len(mic):
        n = int(rng.choice([0, BLOCK, 2 * BLOCK, BLOCK // 3]))
        gate.far(FAR[i:i + n])
        out.append(gate.near(mic[i:i + n]))
        i += n
    got = np.concatenate(out)
    assert len(got) == len(mic)
    assert 10 * np.log10(energy(mic) / max(energy(got), 1.0)) >= 25


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_analysis_keeps_speech_band_and_rejects_aliases(rate: int) -> None:
    a, b = Analysis(rate, 1.0), Analysis(rate, 1.0)
    t = np.arange(rate) / rate
    tone = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    alias = (8000 * np.sin(2 * np.pi * (a.rate - 1000) * t)).astype(np.int16)
    got = sum(a.push(tone[i:i + 997]) for i in range(0, rate, 997))
    for i in range(0, rate, 997):
        b.push(alias[i:i + 997])
    assert abs(got - a.rate) <= 1, "one analysis sample per k device samples"
    kept = a.history.buf[-a.rate // 2:]
    leaked = b.history.buf[-a.rate // 2:]
    assert float(np.std(kept)) > 0.05
    if rate > a.rate:
        assert float(np.std(leaked)) < 3e-3 * float(np.std(kept))  # -50 dB


F10 = RATE // 100  # 10 ms


def steady(seconds: float, seed: int, rms: float) -> np.ndarray:
    """Speech-band noise with the same level in every 10 ms: the echo the gate predicts
    from it is the echo it gets, so a visitor's level relative to it is exact."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE) // F10 * F10
    x = np.convolve(rng.standard_normal(n + 64), np.hanning(24), mode="same")[:n]
    x = x.reshape(-1, F10)
    return (x / np.sqrt(np.mean(x ** 2, axis=1, keepdims=True)) * rms).reshape(-1)


def run_blocks(gate: EchoGate, far: np.ndarray, mic: np.ndarray, block: int) -> np.ndarray:
    out = []
    for i in range(0, len(mic) - block + 1, block):
        gate.far(far[i:i + block])
        out.append(gate.near(mic[i:i + block]))
    return np.concatenate(out)


@pytest.mark.parametrize("gain_db", [-20.0, -6.0, 0.0])
def test_a_known_echo_path_is_locked_and_cut_30_db(gain_db: float) -> None:
    """The assistant's echo 100 ms late at a known level: the gate finds that lag and that
    echo return, and from then on the echo is 30 dB down."""
    mic = room(FAR, gain_db, 100)
    gate = EchoGate(RATE)
    out = run(gate, FAR, mic)
    assert gate.path.lag == -gate.path.rate // 10, "the path: 100 ms from speaker to mic"
    assert abs(10 * np.log10(gate.path.ratio) - gain_db) <= 1.0, "the echo return"
    locked = FIRST_WORD + RATE // 2
    down = 10 * np.log10(energy(mic[locked:len(out)]) / max(energy(out[locked:]), 1.0))
    assert down >= 30.0, f"the echo only {down:.1f} dB down"


@pytest.mark.parametrize("block_ms", [10, 20])
@pytest.mark.parametrize("onset_ms", [0.0, 2.5, 5.0, 7.5, 12.5, 17.5])
def test_a_visitor_above_the_predicted_echo_passes_within_one_10_ms_step(
        block_ms: int, onset_ms: float) -> None:
    """Over a locked echo path, a visitor 6 dB above the echo (the microphone 7 dB above
    it: the 4 dB margin plus the dB or two the prediction holds above the echo, its peak
    hold) is passed untouched within one 10 ms step after their first 10 ms, wherever
    their onset falls in the uplink's block."""
    gain_db, echo_rms = -10.0, 3000 * 10 ** (-10 / 20)
    far = np.concatenate((np.zeros(RATE // 2), steady(2.0, 10, 3000))).astype(np.int16)
    at = int(1.5 * RATE + onset_ms * RATE / 1000)
    visitor = steady(0.3, 20, echo_rms * 10 ** (6 / 20))
    mic = room(far, gain_db, 100).astype(np.float64)
    mic[at:at + len(visitor)] += visitor
    mic = mic.astype(np.int16)
    gate = EchoGate(RATE)
    out = run_blocks(gate, far, mic, RATE * block_ms // 1000)
    assert gate.path.lag is not None
    echo_only = slice(at - RATE // 10, at - RATE // 50)  # before the block the onset is in
    down = 10 * np.log10(energy(mic[echo_only]) / max(energy(out[echo_only]), 1.0))
    assert down >= 29.0, "the echo alone was held down"
    step = F10 + F10  # the visitor's first 10 ms, and one 10 ms step
    np.testing.assert_array_equal(out[at + step:at + len(visitor)],
                                  mic[at + step:at + len(visitor)])


@pytest.mark.parametrize("far_end", ["silent", "absent"])
def test_with_no_far_end_nothing_is_gated(far_end: str) -> None:
    """The assistant says nothing (its far end is digital silence, or is never handed
    over): the visitor, the room and any loud knock pass bit for bit."""
    rng = np.random.default_rng(4)
    mic = rng.normal(0.0, 30.0, 3 * RATE)  # the room, about -60 dBFS
    mic[RATE // 4:RATE // 4 + len(VISITOR)] += VISITOR
    mic[int(2.5 * RATE):int(2.5 * RATE) + 200] += 30000  # a knock
    mic = np.clip(mic, -32768, 32767).astype(np.int16)
    gate, silence = EchoGate(RATE), np.zeros(BLOCK, np.int16)
    out = []
    for i in range(0, len(mic), BLOCK):
        if far_end == "silent":
            gate.far(silence)
        out.append(gate.near(mic[i:i + BLOCK]))
    np.testing.assert_array_equal(np.concatenate(out), mic)


@pytest.mark.parametrize("gain_db", [-6.0, -30.0])
@pytest.mark.parametrize("at_s", [2.0, 3.3, 4.1])
def test_an_echo_path_appearing_mid_line_is_held_down_within_50_ms(gain_db: float,
                                                                    at_s: float) -> None:
    """The assistant has talked for seconds with no echo (nothing to lock on, so the gate
    measures the path only now and then) when the speaker is turned up: from 50 ms after
    the echo appears it is held 20 dB down (its first 150 ms), and 25 dB over the rest of
    the line."""
    at = int(at_s * RATE)
    mic = room(FAR, gain_db, 100).astype(np.float64)
    mic[:at] = 0.0
    mic += np.random.default_rng(5).normal(0.0, 3.0, len(mic))
    mic = mic.astype(np.int16)
    out = run(EchoGate(RATE), FAR, mic)
    first = slice(at + RATE // 20, at + RATE // 5)
    onset = 10 * np.log10(energy(mic[first]) / max(energy(out[first]), 1.0))
    down = 10 * np.log10(energy(mic[at:len(out)]) / max(energy(out[at:]), 1.0))
    assert onset >= 20, f"from 50 ms after its onset the echo is only {onset:.1f} dB down"
    assert down >= 25, f"the echo only {down:.1f} dB down"
