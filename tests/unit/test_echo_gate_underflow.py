"""A speaker that underflows while the assistant talks: the echo stays held down.

The gate finds the echo by sample counts (the far end's sample heard at microphone sample
`m` is `m + lag`). A speaker that underflows plays silence the far end never held: the
echo comes that much later than the lock says until the path is found again. On a
2-core machine with both cores busy the echo passed at full level in 20-140 ms bursts
(12.8-22.5 dB down over a call instead of 30; the assistant's voice reaching Vapi as the
visitor's). Here the speaker's underflows are played into the echo as silence and the far
end pauses meanwhile, as its callback did not run: the gate is given no flag, only the
streams (`echo_unsure` sees the step in their counts). About 0.3 s of CPU each.
"""

from __future__ import annotations

import numpy as np
import pytest

from bridge.audio.echo_gate import EchoGate
from bridge.sim.vad import EnergyVad
from tests.rig.heard import heard_after_ms
from tests.rig.signals import espeak

RATE = 16000
BLOCK = RATE // 50
LINE = ("Welcome to the front desk. Please tell me your name and who you are here to see, "
        "and I will let them know.")
# (where in the far end, s; how long the speaker played silence instead, ms)
UNDERFLOWS = [(0.9, 40), (1.5, 80), (2.2, 120), (3.0, 200)]


def through(paths: list[tuple[int, float]], underflows: list[tuple[float, int]],
            visitor: np.ndarray | None = None, visitor_at: float = 0.0
            ) -> tuple[np.ndarray, np.ndarray]:
    """(microphone, what the echo control let through) for echo `paths` ((delay in 48 kHz
    samples, gain dB)) of a speaker that underflowed at `underflows`; the `visitor` added
    to the microphone from `visitor_at` s."""
    from scipy.signal import resample_poly  # slow to import: only where used

    far = np.concatenate((np.zeros(RATE // 2), espeak(LINE, RATE, speed=170, peak_db=-3.0),
                          np.zeros(RATE // 2)))
    played, last, gaps = [], 0, []
    for at_s, ms in underflows:
        at, gap = int(at_s * RATE), RATE * ms // 1000
        played += [far[last:at], np.zeros(gap)]
        gaps.append((at, gap))
        last = at
    speaker = resample_poly(np.concatenate([*played, far[last:]]), 3, 1)
    echo = np.zeros_like(speaker)
    for d, g in paths:
        echo[d:] += speaker[:-d] * 10 ** (g / 20)
    heard = resample_poly(echo, 1, 3)
    if visitor is not None:
        v = int(visitor_at * RATE)
        heard[v:v + len(visitor)] += visitor[:len(heard) - v]
    mic = np.clip(heard, -32768, 32767).astype(np.int16)
    ctl, fq = EchoGate(RATE), far.astype(np.int16)
    out, f, paused = [], 0, 0
    for i in range(0, len(mic) // BLOCK * BLOCK, BLOCK):
        if paused <= 0 and gaps and f >= gaps[0][0]:
            paused = gaps.pop(0)[1]  # the speaker's callback did not run: no far end
        if paused > 0:
            paused -= BLOCK
            ctl.far(fq[:0])
        else:
            ctl.far(fq[f:f + BLOCK])
            f += BLOCK
        out.append(ctl.near(mic[i:i + BLOCK]))
    return mic, np.concatenate(out)


@pytest.mark.usefixtures("espeak_ng")
@pytest.mark.parametrize("paths", [[(1923, -6.0)], [(1920, -9.0), (2640, -9.0)]],
                         ids=["one path", "two paths"])
def test_the_echo_is_held_down_through_speaker_underflows(paths: list[tuple[int, float]]
                                                         ) -> None:
    mic, out = through(paths, UNDERFLOWS)
    m, o = mic.astype(np.float64), out.astype(np.float64)
    down = 10 * np.log10(np.sum(m ** 2) / max(float(np.sum(o ** 2)), 1.0))
    frame = RATE // 50
    k = min(len(m), len(o)) // frame
    e_m = np.sum(m[:k * frame].reshape(k, frame) ** 2, axis=1)
    e_o = np.sum(o[:k * frame].reshape(k, frame) ** 2, axis=1)
    whole = [round(j * 0.02, 2) for j in range(k) if e_o[j] > e_m[j] * 10 ** (-15 / 10)
             and e_m[j] > frame * 300.0 ** 2]  # echo frames passing within 15 dB
    starts = [e.at / RATE for e in EnergyVad(RATE).feed(out) if e.kind == "start"]
    report = f"echo {down:.1f} dB down; 20 ms of it passing at {whole[:8]} s"
    assert down >= 25 and not whole, report
    assert not starts, f"the echo alone started the visitor's speech at {starts} s; {report}"


@pytest.mark.usefixtures("espeak_ng")
def test_a_visitor_after_the_underflows_is_heard_as_soon_as_without_them() -> None:
    """The gate errs towards attenuating only while it cannot be sure where the echo is:
    a visitor talking over the assistant a second after its last underflow is heard as
    soon as over a speaker that never underflowed."""
    visitor = espeak("Excuse me, I am Robin Smith", RATE, peak_db=-6.0)
    visitor = visitor[int(np.argmax(np.abs(visitor) > 300)):]
    at = 4.5  # s of microphone: the last underflow (3.0 s of far end) ended at 3.4 s
    took = {}
    for name, underflows in (("none", []), ("underflows", UNDERFLOWS)):
        _, out = through([(1923, -6.0)], underflows, visitor, at)
        took[name] = heard_after_ms(out, visitor, int(at * RATE), RATE)
    assert took["underflows"] <= took["none"] + 10, took
