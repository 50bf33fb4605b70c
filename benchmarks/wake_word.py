"""CPU of standby listening for the wake word (`trigger.wake_word`), per second of it.

The daemon's own listening path (`bridge.service.standby.WakeWord.wait`: a read of the
microphone every 40 ms, the bridge's resampler to 16 kHz, microWakeWord's features and
model) runs in real time for `--seconds` on a microphone at each device rate, and the
process's CPU time over that time is the figure: % of one core. The microphone is a looped
WAV of speech without the wake word (espeak-ng, en, 120 wpm) read as the uplink reads a
device, so the model works on speech the whole time. Beside it, the same wait with no wake
word (the daemon's standby without it: one look a second for a reloaded profile).

    .venv/bin/python benchmarks/wake_word.py [--seconds 20] [--model okay_nabu]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.audio.base import AudioSink  # noqa: E402
from bridge.audio.files import WavSource  # noqa: E402
from bridge.events import EventBus  # noqa: E402
from bridge.profile import Profile, parse_profile  # noqa: E402
from bridge.service.standby import WakeWord  # noqa: E402
from tests.rig.signals import espeak, silence, write_wav  # noqa: E402

SPEECH = ("Good morning. I have an appointment at half past ten with Doctor Lee on the second "
          "floor. Could you tell me where the lifts are?")
RATES = (48000, 44100, 16000)


class Host:
    """The part of the daemon the wake word uses: its profile, microphone and events."""

    def __init__(self, profile: Profile, source: WavSource) -> None:
        self.profile = profile
        self.source: WavSource | None = source
        self.sink: AudioSink | None = None  # no speaker: nothing of its own to hear
        self.events = EventBus()
        self.calls = 0

    def request_call(self, cause: str = "ctl") -> str | None:
        self.calls += 1
        return "the benchmark places no call"


async def listen(profile: Profile, source: WavSource, seconds: float) -> tuple[float, int]:
    host = Host(profile, source)
    wake = WakeWord(host, lambda: None)
    never = asyncio.Event()

    async def trigger() -> bool:
        await asyncio.wait_for(never.wait(), timeout=None)
        return True

    cpu = time.process_time()
    task = asyncio.create_task(wake.wait(trigger()))
    await asyncio.sleep(seconds)
    task.cancel()
    used = time.process_time() - cpu
    return used / seconds * 100.0, host.calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--model", default="okay_nabu")
    args = parser.parse_args()
    base = "assistant:\n  id: a\nservice:\n  mode: standby\n"
    with_word = parse_profile(base + f"trigger:\n  wake_word: {args.model}\n",
                              origin="bench.yaml")
    without = parse_profile(base, origin="bench.yaml")
    speech = np.concatenate([espeak(SPEECH, 16000, voice="en", speed=120, peak_db=-6.0),
                             silence(300, 16000)])
    print(f"standby listening, {args.seconds:g} s in real time each; % of one core "
          f"(process CPU time / wall time)")
    print(f"{'device rate':>11}  {'wake word':>10}  {'none':>6}  detections")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        write_wav(wav, speech, 16000)
        for rate in RATES:
            pct, calls = asyncio.run(listen(with_word, WavSource(wav, rate, loop=True),
                                            args.seconds))
            idle, _ = asyncio.run(listen(without, WavSource(wav, rate, loop=True),
                                         min(args.seconds, 5.0)))
            print(f"{rate:>8} Hz  {pct:>8.2f} %  {idle:>4.2f} %  {calls}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
