"""`audio.echo: aec` (livekit's WebRTC AudioProcessingModule, `bridge.audio.aec`) off the
rig, on made-up audio at the rig's own levels: once it has converged, the assistant's echo
alone (its own audio, 40 ms later, 6 dB down) leaves the microphone path at least 20 dB
down, and a visitor talking while the speaker is silent passes within a few dB. This is
what `make test-floors` holds livekit's floor to (the real-device echo test,
tests/echo/test_echo_rig.py, runs in `make test`'s serial phase)."""

from __future__ import annotations

import numpy as np

from bridge.audio.aec import WebRtcAec  # (livekit: the [aec] extra, in [test])

RATE = 16000
BLOCK = RATE // 50  # 20 ms device blocks, as the call feeds it
DELAY = RATE * 40 // 1000


def speechlike(seconds: float, seed: int) -> np.ndarray:
    """Noise in syllable-long bursts, its level moving as speech's does."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    envelope = np.repeat(rng.uniform(0.2, 1.0, n // 2000 + 1), 2000)[:n]
    envelope *= (np.arange(n) // 2400) % 5 != 4  # a pause every fifth syllable
    return np.clip(rng.normal(0, 4000, n) * envelope, -32768, 32767).astype(np.int16)


def db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-9)


def run(far: np.ndarray, near: np.ndarray) -> np.ndarray:
    aec = WebRtcAec(RATE, delay_ms=0)
    out = []
    for i in range(0, len(near) - BLOCK + 1, BLOCK):
        aec.far(far[i:i + BLOCK])
        out.append(aec.near(near[i:i + BLOCK]))
    return np.concatenate(out)


def test_the_echo_is_cancelled_and_the_visitor_kept() -> None:
    far = np.concatenate((speechlike(6.0, 1), np.zeros(2 * RATE, np.int16)))
    echo = np.concatenate((np.zeros(DELAY, np.int16), far[:-DELAY] // 2))  # 40 ms, -6 dB
    visitor = np.concatenate((np.zeros(6 * RATE, np.int16), speechlike(2.0, 2) // 2))
    near = (echo.astype(np.int32) + visitor).clip(-32768, 32767).astype(np.int16)
    out = run(far, near)
    settled = slice(3 * RATE, 6 * RATE)  # the echo alone, after 3 s to converge
    alone = slice(6 * RATE + RATE // 2, 8 * RATE)  # the visitor alone
    removed = db(echo[settled]) - db(out[settled])
    kept = db(out[alone]) - db(visitor[alone])
    print(f"\necho {removed:.1f} dB down; the visitor {kept:+.1f} dB")
    assert removed >= 20, f"the echo only {removed:.1f} dB down"
    assert abs(kept) <= 6, f"the visitor alone changed by {kept:+.1f} dB"
