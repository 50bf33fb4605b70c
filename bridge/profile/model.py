"""The profile as frozen dataclasses, and the spec every YAML key is checked against."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.audio.playout import PlayoutSettings
from bridge.profile.fields import (
    Bool,
    Choice,
    Device,
    Field,
    Int,
    Latency,
    Mapping,
    Num,
    Str,
    Template,
)

WIRE_RATES = {"pcm_s16le": 16000, "mulaw": 8000}

# section -> key -> field. Every key a profile may hold is here; anything else is an error.
SPEC: dict[str, dict[str, Field]] = {
    "api": {
        "base_url": Str(default="https://api.vapi.ai"),
        "key_env": Str(default="VAPI_API_KEY"),
        "key_file": Str(),
        "public_key_env": Str(default="VAPI_PUBLIC_KEY"),
        "public_key_file": Str(),
        "timeout_seconds": Num(default=10.0, lo=1, hi=120),
        "retry_attempts": Int(default=5, lo=1, hi=20),
        "retry_max_delay_seconds": Num(default=30.0, lo=1, hi=600),
        "allow_plaintext": Bool(default=False),
    },
    "assistant": {
        "id": Str(),
        "inline": Mapping(),
        "overrides": Mapping(default={}),
    },
    "call": {
        "name": Str(max_len=40),
        "max_duration_seconds": Int(lo=10, hi=43200),
        "silence_timeout_seconds": Int(lo=10, hi=3600),
        "end_command": Choice(default="end-call", choices=("end-call", "hangup")),
        "end_timeout_seconds": Num(default=2.0, lo=0.1, hi=30),
        "commands_via": Choice(default="socket", choices=("socket", "control-url")),
        "control_auth": Bool(default=False),
    },
    "wire": {
        "format": Choice(default="pcm_s16le", choices=("pcm_s16le", "mulaw")),
        "sample_rate": Int(lo=8000, hi=48000),
    },
    "audio": {
        "input": Device(default="default"),
        "output": Device(default="default"),
        "input_gain_db": Num(default=0.0, lo=-40, hi=40),
        "output_gain_db": Num(default=0.0, lo=-40, hi=40),
        "device_rate": Int(lo=8000, hi=192000),
        "latency": Latency(default="low"),
        "block_ms": Int(default=20, lo=5, hi=100),
        "playout_start_ms": Num(default=60.0, lo=0, hi=1000),
        "playout_min_ms": Num(default=40.0, lo=0, hi=1000),
        "playout_max_ms": Num(default=200.0, lo=20, hi=3000),
        # gate: measured echo path, double talk passes (bridge/audio/echo_gate.py); aec:
        # WebRTC (extra [aec]); off. Only with a real microphone and speaker.
        "echo": Choice(default="gate", choices=("off", "gate", "aec")),
    },
    "transcript": {
        "print": Choice(default="auto", choices=("auto", "finals", "all", "off")),
    },
    "record": {
        "path": Template(names=("call_id", "profile", "started")),
    },
    "service": {
        "mode": Choice(default="once", choices=("once", "standby", "loop")),
        "loop_delay_seconds": Num(default=5.0, lo=0, hi=3600),
        "max_backoff_seconds": Num(default=300.0, lo=1, hi=86400),
        "control_socket": Str(),
    },
    "log": {
        "level": Choice(default="info", choices=("debug", "info", "warning", "error")),
    },
}

# keys people try that must never be in a profile, with what to do instead
FORBIDDEN = {
    "api.key": "do not put the API key in the profile; set the environment variable named "
               "by api.key_env (VAPI_API_KEY), or api.key_file, or a systemd credential",
    "api.api_key": "do not put the API key in the profile; use VAPI_API_KEY or api.key_file",
    "api.private_key": "do not put the API key in the profile; use VAPI_API_KEY or "
                       "api.key_file",
    "api.public_key": "do not put keys in the profile; use VAPI_PUBLIC_KEY or "
                      "api.public_key_file",
}


# keys Vapi's API no longer accepts (its validator answers 400 "should not exist"):
# refused where a profile passes them to Vapi as written (assistant.inline/overrides)
_SILENCE_FIX = ("set Silence Timeout on the assistant in the Vapi dashboard (Advanced, "
                "Call Timeout Settings)")
GONE_FROM_VAPI = {
    "silenceTimeoutSeconds": "Vapi's API no longer accepts silenceTimeoutSeconds in an "
                             f"assistant or its overrides (removed in 2025); remove it and "
                             f"{_SILENCE_FIX}",
}
# profile keys still read (old profiles keep working) but no longer sent
DEPRECATED = {
    "call.silence_timeout_seconds": "call.silence_timeout_seconds is ignored: Vapi's API no "
                                    "longer accepts silenceTimeoutSeconds (removed in 2025); "
                                    f"remove the key and {_SILENCE_FIX}",
}


@dataclass(frozen=True)
class ApiSettings:
    base_url: str
    key_env: str
    key_file: str | None
    public_key_env: str
    public_key_file: str | None
    timeout_seconds: float
    retry_attempts: int
    retry_max_delay_seconds: float
    allow_plaintext: bool


@dataclass(frozen=True)
class AssistantSettings:
    id: str | None
    inline: dict[str, Any] | None
    overrides: dict[str, Any]


@dataclass(frozen=True)
class CallSettings:
    name: str | None
    max_duration_seconds: int | None
    silence_timeout_seconds: int | None
    end_command: str
    end_timeout_seconds: float
    commands_via: str
    control_auth: bool


@dataclass(frozen=True)
class WireSettings:
    format: str
    sample_rate: int

    @property
    def frame_bytes(self) -> int:
        return self.sample_rate // 50 * (2 if self.format == "pcm_s16le" else 1)


@dataclass(frozen=True)
class AudioSettings:
    input: str | int
    output: str | int
    input_gain_db: float
    output_gain_db: float
    device_rate: int | None
    latency: str | float
    block_ms: int
    playout_start_ms: float
    playout_min_ms: float
    playout_max_ms: float
    echo: str

    @property
    def playout(self) -> PlayoutSettings:
        return PlayoutSettings(start_ms=self.playout_start_ms, max_ms=self.playout_max_ms)


@dataclass(frozen=True)
class TranscriptSettings:
    print: str


@dataclass(frozen=True)
class RecordSettings:
    path: str | None


@dataclass(frozen=True)
class ServiceSettings:
    mode: str
    loop_delay_seconds: float
    max_backoff_seconds: float
    control_socket: str | None


@dataclass(frozen=True)
class LogSettings:
    level: str


@dataclass(frozen=True)
class Profile:
    name: str
    origin: str
    api: ApiSettings
    assistant: AssistantSettings
    call: CallSettings
    wire: WireSettings
    audio: AudioSettings
    transcript: TranscriptSettings
    record: RecordSettings
    service: ServiceSettings
    log: LogSettings
    directory: Path = field(default=Path("."))
    warnings: tuple[str, ...] = ()  # shown by run (logged) and check (!), never fatal

    def create_body(self) -> dict[str, Any]:
        """The JSON body of POST /call."""
        body: dict[str, Any] = {}
        if self.assistant.id:
            body["assistantId"] = self.assistant.id
        else:
            body["assistant"] = self.assistant.inline
        overrides = dict(self.assistant.overrides)
        if self.call.max_duration_seconds is not None:
            overrides["maxDurationSeconds"] = self.call.max_duration_seconds
        if overrides:
            body["assistantOverrides"] = overrides
        if self.call.name:
            body["name"] = self.call.name
        body["transport"] = {
            "provider": "vapi.websocket",
            "audioFormat": {"format": self.wire.format, "container": "raw",
                            "sampleRate": self.wire.sample_rate},
        }
        return body


SECTIONS: dict[str, type] = {
    "api": ApiSettings, "assistant": AssistantSettings, "call": CallSettings,
    "wire": WireSettings, "audio": AudioSettings, "transcript": TranscriptSettings,
    "record": RecordSettings, "service": ServiceSettings, "log": LogSettings,
}
