"""The simulator's configuration (one frozen dataclass) and assistant-spec parsing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bridge.sim.faults import Fault, parse_faults
from bridge.sim.scripts import load_replay, load_script

ASSISTANT_KINDS = ("echo", "tone", "script", "replay")
DEFAULT_API_KEY = "sim-private-key"
DEFAULT_PUBLIC_KEY = "sim-public-key"
# the ids the simulator's assistant answers to: readable aliases, and the example id of
# Vapi's websocket-transport docs; any other id is unknown (GET /assistant 404, POST /call 400)
DEFAULT_ASSISTANT_IDS = ("echo", "tone", "5b0a4a08-133c-4146-9315-0984f8c6be80")


@dataclass(frozen=True)
class AssistantSpec:
    kind: str  # echo | tone | script | replay
    path: Path | None = None

    @property
    def label(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path.name}"


def parse_speed(text: str) -> float:
    """`--downlink-speed`: a factor of at least 1, or `whole` (each reply at once)."""
    if text.strip().lower() == "whole":
        return float("inf")
    try:
        speed = float(text)
    except ValueError:
        speed = 0.0
    if not 1.0 <= speed < float("inf"):
        raise ValueError(f"downlink speed {text!r}: use a factor of at least 1 (e.g. 1.3, 3) "
                         f"or 'whole'")
    return speed


def parse_assistant(spec: str, *, load: bool = True) -> AssistantSpec:
    """The assistant `spec` names; with `load`, a script or replay file is read and checked
    too (a ValueError names the file and its line), so a typo shows before any call."""
    kind, sep, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in ASSISTANT_KINDS:
        raise ValueError(f"unknown assistant {spec!r}: use echo, tone, script:FILE or replay:FILE")
    if kind in ("script", "replay"):
        if not sep or not rest:
            raise ValueError(f"assistant {kind} needs a file: {kind}:FILE")
        path = Path(rest).expanduser()
        if not path.is_file():
            raise ValueError(f"assistant file not found: {path}")
        if load:
            (load_script if kind == "script" else load_replay)(path)
        return AssistantSpec(kind, path)
    if sep:
        raise ValueError(f"assistant {kind} takes no file")
    return AssistantSpec(kind)


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulator needs; all fields have defaults."""

    host: str = "127.0.0.1"
    port: int = 0
    assistant: str = "echo"  # echo | tone | script:FILE | replay:FILE
    assistant_ids: tuple[str, ...] = DEFAULT_ASSISTANT_IDS  # ids that assistant answers to
    # the stored assistant's clientMessages (GET /assistant, and a call by assistantId that
    # lists none): None is Vapi's default list
    assistant_client_messages: tuple[str, ...] | None = None
    api_key: str = DEFAULT_API_KEY  # private key: POST/GET /call
    public_key: str = DEFAULT_PUBLIC_KEY  # listen/control when authentication is enabled
    faults: tuple[str, ...] = ()  # "NAME[=ARG]" for every call
    downlink_chunking: str = "vapi"  # vapi | frames
    downlink_speed: float = 1.0  # speech sent this many times faster than real time; inf: whole
    never_connected_timeout: float = 20.0
    speech: str = "auto"  # auto | espeak | tones
    first_message: str | None = None  # replaces the assistant's default first message
    strict_limits: bool = False  # enforce Vapi's >= 10 s minimum on maxDurationSeconds
    default_silence_timeout: float = 30.0
    default_max_duration: float = 600.0
    replay_speed: float = 1.0
    tone_hz: float = 1000.0
    tone_ms: float = 60.0
    tone_period_ms: float = 500.0
    vad_threshold_dbfs: float = -40.0
    vad_hangover_ms: float = 600.0
    backchannel_ms: float = 600.0  # shorter visitor speech over the assistant never interrupts
    think_ms: float = 0.0  # a reply's audio starts this long after speech-update user stopped
    listen_rate: int = 16000
    http_hang_seconds: float = 120.0
    tls_cert: str | None = None  # PEM certificate chain: serve https/wss (with tls_key)
    tls_key: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.downlink_chunking not in ("vapi", "frames"):
            raise ValueError("downlink_chunking must be 'vapi' or 'frames'")
        if self.speech not in ("auto", "espeak", "tones"):
            raise ValueError("speech must be 'auto', 'espeak' or 'tones'")
        if not self.downlink_speed >= 1.0:  # also refuses NaN
            raise ValueError("downlink_speed must be at least 1 (inf: each reply at once)")
        if self.replay_speed <= 0:
            raise ValueError("replay_speed must be > 0")
        if not 0 <= self.backchannel_ms <= 10000:
            raise ValueError("backchannel_ms must be between 0 and 10000")
        if not 0 <= self.think_ms <= 60000:  # also refuses NaN
            raise ValueError("think_ms must be between 0 and 60000")
        if isinstance(self.faults, str):
            object.__setattr__(self, "faults", (self.faults,))
        if isinstance(self.assistant_ids, str):
            object.__setattr__(self, "assistant_ids", (self.assistant_ids,))
        parse_assistant(self.assistant)
        parse_faults(self.faults)
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")

    @property
    def assistant_spec(self) -> AssistantSpec:
        return parse_assistant(self.assistant, load=False)  # checked in __post_init__

    @property
    def parsed_faults(self) -> tuple[Fault, ...]:
        return parse_faults(self.faults)
