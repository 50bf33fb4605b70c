"""Echo removed by `audio.echo` off / gate / aec, and how much of the visitor survives.

The real EchoGate and WebRtcAec (livekit) run on a synthetic room: the assistant's speech
reaches the microphone through an echo path (gain, delay), and a visitor speaks once alone
and once over the assistant (double talk). 10 ms blocks as on the uplink.

    .venv/bin/python benchmarks/echo.py
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from bridge.audio.echo import EchoGate, WebRtcAec
from bridge.audio.resample import resample_all

RATE = 16000


def speech(text: str) -> np.ndarray:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is needed: sudo apt-get install espeak-ng")
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "s.wav"
        subprocess.run([exe, "-w", str(out), text], check=True)
        with wave.open(str(out)) as w:
            data = np.frombuffer(w.readframes(w.getnframes()), np.int16)
            rate = w.getframerate()
    return resample_all(data, rate, RATE)


def db(x: np.ndarray) -> float:
    return 10 * np.log10(float(np.mean(x.astype(np.float64) ** 2)) / 32768**2 + 1e-12)


def run(mode: str, gain_db: float, delay_ms: float) -> tuple[float, float, float]:
    far = np.concatenate([speech("Welcome to the front desk. Please tell me your name and "
                                 "who you are here to see.")] * 3)
    visitor = speech("My name is Robin Smith, I am here to see Doctor Lee")
    n = len(far) + 2 * RATE + len(visitor)
    far = np.concatenate([far, np.zeros(n - len(far), np.int16)])
    d, g = int(delay_ms * RATE / 1000), 10 ** (gain_db / 20)
    echo = np.zeros(n)
    echo[d:] = far[: n - d] * g
    talk = np.zeros(n)
    double_at, alone_at = len(far) // 2 - len(visitor), n - len(visitor)
    for at in (double_at, alone_at):
        talk[at:at + len(visitor)] += visitor * 0.5
    mic = np.clip(echo + talk, -32768, 32767).astype(np.int16)
    proc = {"gate": EchoGate(RATE), "aec": WebRtcAec(RATE, delay_ms)}.get(mode)
    out = np.zeros(n, np.int16)
    block = RATE // 100
    pos = 0
    for i in range(0, n - block + 1, block):
        if proc is None:
            got = mic[i:i + block]
        else:
            proc.far(far[i:i + block])
            got = proc.near(mic[i:i + block])
        out[pos:pos + len(got)] = got
        pos += len(got)
    echo_only = slice(RATE * 4, double_at)  # after the gate has learned the room
    removed = db(mic[echo_only]) - db(out[echo_only])
    alone = slice(alone_at, alone_at + len(visitor))  # the assistant is silent: levels
    kept_alone = db(out[alone]) - db(mic[alone])
    part = slice(double_at, double_at + len(visitor))  # double talk: the visitor's share of
    ref = talk[part]  # the output, at the best lag within ±20 ms (processing may shift it)
    shares = []
    for lag in range(-RATE // 50, RATE // 50 + 1):
        seg = out[double_at + lag:double_at + lag + len(visitor)].astype(np.float64)
        shares.append(abs(float(np.dot(seg, ref) / np.dot(ref, ref))))
    kept_double = 20 * np.log10(max(max(shares), 1e-6))
    return removed, kept_alone, kept_double


def main() -> None:
    print("Echo control on a synthetic room (16 kHz; visitor kept = level change)")
    print(f"{'echo path':<18} {'mode':<5} {'echo removed':>12} {'visitor alone':>14} "
          f"{'double talk':>12}")
    for gain_db, delay_ms in ((-6, 40), (-20, 40), (-20, 150)):
        for mode in ("off", "gate", "aec"):
            removed, alone, double = run(mode, gain_db, delay_ms)
            print(f"{gain_db:>4} dB, {delay_ms:>3} ms    {mode:<5} {removed:>9.1f} dB "
                  f"{alone:>11.1f} dB {double:>9.1f} dB")


if __name__ == "__main__":
    main()
