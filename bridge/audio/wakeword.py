"""A wake word detector: microWakeWord (`pymicro-wakeword`, the `[wake]` extra) on 16 kHz
int16 mono audio, fed in blocks of any length.

It knows nothing of calls or devices: `feed()` takes audio and says when the wake word was
heard, with its probability (the mean of the model's last few outputs, microWakeWord's own
rule), as it rises above the threshold (once per crossing), outside the refractory time
after the last detection. Time here is the audio's own: samples fed.

Bundled models (in the library's wheel): okay_nabu, hey_jarvis, alexa, hey_mycroft; any
other model is its JSON file (microWakeWord's format, the .tflite beside it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (the profile checks a model's name: `ctl` loads it, without numpy)
    import numpy as np

BUNDLED = ("okay_nabu", "hey_jarvis", "alexa", "hey_mycroft")
RATE = 16000  # what the models are trained on
CHUNK = 160  # the feature front end's step: 10 ms at 16 kHz
DEFAULT_REFRACTORY_S = 2.0  # as linux-voice-assistant (pymicro-wakeword's own satellite)


class ModelError(Exception):
    """The model cannot be loaded: the message says why."""


def unavailable() -> str | None:
    """None when the library imports; else the missing module's name (or the reason)."""
    try:
        import pymicro_wakeword  # noqa: F401
    except ImportError as exc:
        return exc.name or str(exc)
    return None


class WakeWordDetector:
    """One model, its feature front end, its threshold and its refractory time."""

    def __init__(self, model: str | Path, *, threshold: float | None = None,
                 refractory_s: float = DEFAULT_REFRACTORY_S) -> None:
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model

        try:
            if str(model) in BUNDLED:
                self._model: Any = MicroWakeWord.from_builtin(Model(str(model)))
            else:
                self._model = MicroWakeWord.from_config(Path(model))
        except OSError as exc:  # the JSON or the .tflite is missing, the library does not load
            raise ModelError(f"cannot load {model}: {exc.strerror or exc}") from None
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise ModelError(f"{model} is not a microWakeWord model's JSON "
                             f"({exc.__class__.__name__}: {exc})") from None
        self.name = str(self._model.wake_word)
        self._features = MicroWakeWordFeatures()
        self.threshold = float(threshold if threshold is not None
                               else self._model.probability_cutoff)
        self._refractory = int(refractory_s * RATE)
        self.heard = 0  # samples fed since the detector was made: its clock
        self._quiet_until = 0  # no detection before this sample (refractory time)
        self.peak = 0.0  # the highest probability since the last reset
        self._armed = True
        self._steps = 0  # feature steps (10 ms each) since the last reset

    def feed(self, samples: np.ndarray) -> float | None:
        """Feed 16 kHz int16 audio; the probability when the wake word was heard in it,
        else None."""
        if not len(samples):
            return None
        found: float | None = None
        self.heard += len(samples)
        for features in self._features.process_streaming(samples.astype("<i2").tobytes()):
            prob = self._model.process_streaming_prob(features)
            self._steps += 1
            if prob is None or self._steps % self._model.stride:
                continue  # the model runs on every `stride`-th step; between, it says 0.0
            self.peak = max(self.peak, prob)
            if prob <= self.threshold:
                self._armed = True  # one detection per crossing of the threshold
            elif self._armed and self.heard >= self._quiet_until and found is None:
                found = prob
                self._armed = False
                self._quiet_until = self.heard + self._refractory
        return found

    def skip(self, samples: int) -> None:
        """`samples` (16 kHz) went by unheard (the kiosk's own speaker played): the
        refractory time runs on in them, as the clock does."""
        self.heard += samples

    def rearm(self) -> None:
        """A new wait for a visitor: a wake word now is a new request, whatever the last
        one's refractory time had left."""
        self._quiet_until = self.heard

    def reset(self) -> None:
        """Forget the audio heard so far (the refractory time still counts)."""
        self._features.reset()
        self._model.reset()
        self.peak = 0.0
        self._armed = True
        self._steps = 0

    def close(self) -> None:
        self._model.close()
