"""The resampler's FIR is designed with numpy alone (scipy is not a runtime dependency):
the design equals `scipy.signal`'s where scipy is installed, and what a listener notices —
the delay, the passband, the aliases just above Nyquist — holds without it, measured the
way benchmarks/resample.py measures it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from benchmarks.resample import alias_db, delay_ms, edge_hz
from bridge.audio import fir_design
from bridge.audio.polyphase import ATTEN_DB, SPEECH_HZ, TRANSITION, PolyphaseFIR
from bridge.audio.resample import Resampler

ROUTES = [(48000, 16000), (16000, 48000), (48000, 8000), (8000, 48000), (16000, 8000),
          (8000, 16000)]


def design(a: int, b: int) -> tuple[int, float, float, float]:
    """The resampler's lowpass for a→b: its rate, passband and stopband edges, depth."""
    high, low = max(a, b), min(a, b)
    return high, low / 2 * (1 - TRANSITION), low / 2, ATTEN_DB


def scipy_design(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """The prototype and the minimum-phase taps as resample.py designed them with scipy."""
    signal = pytest.importorskip("scipy.signal")
    rate, pass_hz, stop_hz, atten_db = design(a, b)
    width = stop_hz - pass_hz
    numtaps, beta = signal.kaiserord(2 * atten_db, width / (rate / 2))
    proto = signal.firwin(numtaps | 1, stop_hz - width / 2, window=("kaiser", beta), fs=rate)
    taps = signal.minimum_phase(proto, method="homomorphic")
    return proto, taps / taps.sum()


def rel(x: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(x - ref)) / np.max(np.abs(ref)))


@pytest.mark.parametrize(("a", "b"), ROUTES)
def test_kaiser_prototype_and_group_delay_equal_scipys(a: int, b: int) -> None:
    signal = pytest.importorskip("scipy.signal")
    proto, taps = scipy_design(a, b)
    rate, pass_hz, stop_hz, atten_db = design(a, b)
    width = (stop_hz - pass_hz) / (rate / 2)
    numtaps, beta = fir_design.kaiser_order(2 * atten_db, width)
    assert (numtaps | 1, beta) == (len(proto), signal.kaiserord(2 * atten_db, width)[1])
    mine = fir_design.windowed_sinc(len(proto), (stop_hz + pass_hz) / rate, beta)
    assert rel(mine, proto) < 1e-12
    _, gd = signal.group_delay((taps, [1.0]), w=[SPEECH_HZ], fs=rate)
    assert fir_design.group_delay(taps, SPEECH_HZ, rate) == pytest.approx(gd[0], rel=1e-12)


@pytest.mark.parametrize(("a", "b"), ROUTES)
def test_the_linear_phase_filter_equals_scipys_firwin(a: int, b: int) -> None:
    """The resampler's filter is scipy's `firwin` under a Kaiser window of `kaiserord`'s
    length and shape, delayed by half its length at every frequency."""
    signal = pytest.importorskip("scipy.signal")
    rate, pass_hz, stop_hz, atten_db = design(a, b)
    width = (stop_hz - pass_hz) / (rate / 2)
    numtaps, beta = signal.kaiserord(atten_db, width)
    theirs = signal.firwin(numtaps | 1, stop_hz - (stop_hz - pass_hz) / 2,
                           window=("kaiser", beta), fs=rate)
    mine = fir_design.linear_phase_lowpass(rate, pass_hz, stop_hz, atten_db)
    assert len(mine) == len(theirs)
    assert rel(mine, theirs) < 1e-12
    assert PolyphaseFIR(a, b).group_delay_ms == pytest.approx(
        (len(mine) - 1) / 2 / rate * 1000, rel=1e-9)


@pytest.mark.parametrize(("a", "b"), ROUTES)
def test_the_minimum_phase_variant_equals_scipys(a: int, b: int) -> None:
    """Equal as far as the minimum-phase step allows: it takes the log of a stopband
    180 dB down, so rounding anywhere moves the taps by up to ~1e-7 of the largest —
    scipy's own result does when one tap of its prototype moves by one ulp; numpy 2 against
    scipy 1.17 (one FFT library) differ by 2e-8, numpy 1.26 against scipy 1.14 by 4e-7."""
    signal = pytest.importorskip("scipy.signal")
    _, taps = scipy_design(a, b)
    rate, pass_hz, stop_hz, atten_db = design(a, b)
    mine = fir_design.min_phase_lowpass(rate, pass_hz, stop_hz, atten_db)
    assert len(mine) == len(taps)
    assert rel(mine, taps) < 1e-6
    # the responses differ by under −110 dB of the passband: far below the stopband
    apart = np.abs(np.fft.rfft(mine, 1 << 16) - np.fft.rfft(taps, 1 << 16))
    assert 20 * np.log10(apart.max()) < -110.0
    _, gd = signal.group_delay((taps, [1.0]), w=[SPEECH_HZ], fs=rate)
    assert PolyphaseFIR(a, b, minimum_phase=True).group_delay_ms == pytest.approx(
        gd[0] / rate * 1000, rel=1e-6)


@pytest.mark.parametrize(("a", "b"), ROUTES)
def test_delay_passband_and_aliases_hold_without_scipy(a: int, b: int) -> None:
    def make() -> Resampler:
        return Resampler(a, b)

    nyquist = min(a, b) / 2
    limit = 8.0 if max(a, b) // min(a, b) <= 3 else 14.0  # issue 16: 48k↔16k, 48k↔8k
    assert delay_ms(make, a, b) <= limit, f"the bridge adds at most {limit} ms"
    assert edge_hz(make, a, b) > 0.935 * nyquist, "−3 dB at 0.94 × Nyquist"
    assert alias_db(make, a, b, 50) < -88.0
    assert alias_db(make, a, b, 200) < -88.0


def test_the_resampler_runs_without_scipy() -> None:
    code = ("import sys; from bridge.audio.resample import Resampler; Resampler(48000, 8000); "
            "print('scipy' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert run.stdout.strip() == "False", "scipy is no runtime dependency"
