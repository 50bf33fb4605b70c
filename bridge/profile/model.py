"""The profile: its sections (declared in `sections.py`), the spec every YAML key is checked
against (derived from them), and the keys refused or deprecated."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bridge.errors import ProfileError
from bridge.profile.fields import Field
from bridge.profile.kiosk import HttpSettings, SoundSettings, TriggerSettings
from bridge.profile.sections import (
    PLACEHOLDER_ID,
    SILENCE_FIX,
    ApiSettings,
    AssistantSettings,
    AudioSettings,
    CallSettings,
    LogSettings,
    RecordSettings,
    ServiceSettings,
    TranscriptSettings,
    WireSettings,
)

WIRE_RATES = {"pcm_s16le": 16000, "mulaw": 8000}
# what `call.control_auth` asks Vapi for on each call (assistantOverrides.monitorPlan): the
# listenUrl and the controlUrl then want `Authorization: Bearer <PUBLIC key>` (the schema)
MONITOR_AUTH = ("listenAuthenticationEnabled", "controlAuthenticationEnabled")

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
GONE_FROM_VAPI = {
    "silenceTimeoutSeconds": "Vapi's API no longer accepts silenceTimeoutSeconds in an "
                             f"assistant or its overrides (removed in 2025); remove it and "
                             f"{SILENCE_FIX}",
}


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
    trigger: TriggerSettings
    sounds: SoundSettings
    directory: Path = field(default=Path("."))
    warnings: tuple[str, ...] = ()  # shown by run (logged) and check (!), never fatal
    http: HttpSettings = field(default_factory=HttpSettings)
    overridden: frozenset[str] = frozenset()  # SECTION.KEYs given by --set

    def where(self, key: str) -> str:
        """What an error about `key` names: the `--set` that gave it, or the profile."""
        return f"--set {key}" if key in self.overridden else f"{self.origin}: {key}"

    def warning_lines(self) -> list[str]:
        """The warnings as logged: each names the `--set` that gave its key, or the profile
        (a warning starts with the key it is about)."""
        return [f"--set {w}" if w.split(":")[0].split(" ")[0] in self.overridden
                else f"{self.origin}: {w}" for w in self.warnings]

    def placeholder(self) -> str | None:
        """Why this profile cannot place a call before Vapi is asked: its assistant.id is
        still the example's placeholder (`check` and `run` say the same); None otherwise."""
        if self.assistant.id != PLACEHOLDER_ID:
            return None
        where = ("--set assistant.id" if "assistant.id" in self.overridden
                 else f"assistant.id in {self.origin}")
        return (f"{where} is still the example's placeholder — copy the assistant's id from "
                f"the Vapi dashboard (Assistants), or use assistant.inline")

    def refuse_placeholder(self) -> None:
        """Raise the `placeholder()` refusal (exit 2) when there is one."""
        if (problem := self.placeholder()) is not None:
            raise ProfileError(problem)

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
        plan = overrides.get("monitorPlan")
        plan = {} if plan is None else plan  # `monitorPlan:` with its keys commented out
        if self.call.control_auth and isinstance(plan, dict):  # keys written there win
            overrides["monitorPlan"] = {**dict.fromkeys(MONITOR_AUTH, True), **plan}
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
    "record": RecordSettings, "service": ServiceSettings, "trigger": TriggerSettings,
    "log": LogSettings, "http": HttpSettings, "sounds": SoundSettings,
}

# section -> key -> field, read off the declarations in bridge/profile/sections.py. Every
# key a profile may hold is here; anything else is an error.
SPEC: dict[str, dict[str, Field]] = {
    section: {f.name: f.metadata["spec"] for f in fields(cls)}
    for section, cls in SECTIONS.items()
}
# profile keys still read (old profiles keep working) but no longer sent, with the warning
DEPRECATED: dict[str, str] = {
    f"{section}.{f.name}": f"{section}.{f.name} {f.metadata['deprecated']}"
    for section, cls in SECTIONS.items() for f in fields(cls) if f.metadata["deprecated"]
}

__all__ = ["DEPRECATED", "FORBIDDEN", "GONE_FROM_VAPI", "MONITOR_AUTH", "PLACEHOLDER_ID",
           "SECTIONS", "SPEC", "WIRE_RATES",
           "ApiSettings", "AssistantSettings", "AudioSettings", "CallSettings", "HttpSettings",
           "LogSettings", "Profile", "RecordSettings", "ServiceSettings", "SoundSettings",
           "TranscriptSettings",
           "TriggerSettings", "WireSettings"]
