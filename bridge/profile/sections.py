"""Every profile key, declared once: a field of its section's frozen dataclass, with its
validator (default and bounds) and the help the example profile shows beside it.

The kiosk's own sections (trigger, http, sounds) are declared the same way in
`bridge/profile/kiosk.py`. `config/frontdesk.yaml` is rendered from these declarations
(`bridge/profile/example.py`); a test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from bridge.profile.fields import (
    Bool,
    Choice,
    Device,
    EnvName,
    Int,
    Latency,
    Mapping,
    Num,
    SecretPath,
    Str,
    Template,
    Url,
    key,
)

if TYPE_CHECKING:
    from bridge.audio.playout_types import PlayoutSettings

PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"  # the example's assistant.id
SILENCE_FIX = ("set Silence Timeout on the assistant in the Vapi dashboard (Advanced, "
               "Call Timeout Settings)")
_DEPRECATED_SILENCE = (
    "DEPRECATED, ignored with a warning: Vapi's API no longer accepts silenceTimeoutSeconds "
    "(2025). Set Silence Timeout on the assistant in the dashboard (Advanced, Call Timeout "
    "Settings) instead")


@dataclass(frozen=True)
class ApiSettings:
    HELP: ClassVar[str] = ""
    base_url: str = key(Url(default="https://api.vapi.ai"),
                        "Vapi's API; http:// only to loopback unless allow_plaintext")
    key_env: str = key(EnvName(default="VAPI_API_KEY"),
                       "env var holding the PRIVATE API key (never put it here)")
    key_file: str | None = key(
        SecretPath(), "or a file holding it (chmod 600); under systemd the credential "
                      "vapi-api-key ($CREDENTIALS_DIRECTORY) is used",
        example="/etc/vapi-bridge/key", commented=True)
    public_key_env: str = key(EnvName(default="VAPI_PUBLIC_KEY", sample="VAPI_PUBLIC_KEY",
                                      file_key="api.public_key_file"),
                              "PUBLIC key, only for listen/control URLs with auth on")
    public_key_file: str | None = key(
        SecretPath(), "or a file holding it; under systemd the credential vapi-public-key",
        commented=True)
    timeout_seconds: float = key(Num(default=10.0, lo=1, hi=120),
                                 "each read of a REST or controlUrl request, and its "
                                 "connect (at most 10 s); a whole answer within 3 times this "
                                 "(a long one: while it comes at 32 KiB/s or more)")
    retry_attempts: int = key(Int(default=5, lo=1, hi=20),
                              "tries in all, the first included, of a request met by 429 / "
                              "5xx / timeouts")
    retry_max_delay_seconds: float = key(Num(default=30.0, lo=1, hi=600),
                                         "ceiling of the exponential backoff (with jitter)")
    create_within_seconds: float = key(Num(default=20.0, lo=1, hi=600),
                                       "no retry of a call's create starts later than this "
                                       "after the first try: a visitor is waiting (a 429 is "
                                       "retried after 10-20 s, then 20-30 s)")
    allow_plaintext: bool = key(Bool(default=False),
                                "allow http:// or ws:// to a non-loopback host")


@dataclass(frozen=True)
class AssistantSettings:
    HELP: ClassVar[str] = "exactly one of id or inline"
    id: str | None = key(Str(), "an assistant from the Vapi dashboard",
                         example=PLACEHOLDER_ID)
    inline: dict[str, Any] | None = key(  # noqa: RUF009 (key() is a dataclasses.field)
        Mapping(), "or a whole assistant object, as in Vapi's API", commented=True,
        block="firstMessage: Welcome to the front desk!\n"
              "model: {provider: openai, model: gpt-4o-mini}\n")
    overrides: dict[str, Any] = key(  # noqa: RUF009 (key() is a dataclasses.field)
        Mapping(default={}),
        "assistantOverrides, passed to Vapi as written; Vapi refuses keys its schema lacks "
        "(400 \"should not exist\"; vapi-bridge check warns of them) — clientMessages: [..., "
        "assistant.speechStarted] opts in to caption events",
        block="variableValues:\n"
              "  desk: Front desk, ground floor\n"
              "# firstMessage: \"Hello! How can I help?\"\n"
              "# firstMessageInterruptionsEnabled: true  # let the visitor cut the greeting "
              "(Vapi: false)\n"
              "# clientMessages: [...]   # keep user-interrupted in it: the speaker is flushed\n"
              "#                         # on it, or on any visitor speech start when it is "
              "left out\n")


@dataclass(frozen=True)
class CallSettings:
    HELP: ClassVar[str] = ""
    name: str | None = key(
        Str(max_len=40),
        "shown in the Vapi dashboard, followed by \" #<8 hex>\": each attempt's marker, which "
        "finds a call whose POST /call answer was lost (so it is never created twice); the "
        "first 30 characters are kept (a warning says so); over 40 is a profile error",
        example="front-desk")
    max_duration_seconds: int | None = key(
        Int(lo=10, hi=43200), "Vapi ends the call after this (exceeded-max-duration)",
        example=600, commented=True)
    silence_timeout_seconds: int | None = key(
        Int(lo=10, hi=3600), _DEPRECATED_SILENCE, example=30, commented=True,
        deprecated="is ignored: Vapi's API no longer accepts silenceTimeoutSeconds (removed "
                   f"in 2025); remove the key and {SILENCE_FIX}")
    end_command: str = key(Choice(default="end-call", choices=("end-call", "hangup")),
                           "end-call, or hangup (the older form, on the call socket; a "
                           "controlUrl is always sent end-call, the only end Vapi's schema "
                           "lists there)")
    end_timeout_seconds: float = key(Num(default=2.0, lo=0.1, hi=30),
                                     "after sending it, wait this long for Vapi to end")
    commands_via: str = key(Choice(default="socket", choices=("socket", "control-url")),
                            "socket, or control-url (POST to the call's controlUrl)")
    control_auth: bool = key(Bool(default=False),
                             "true: ask Vapi (monitorPlan) to require the PUBLIC key on the "
                             "call's controlUrl and listenUrl (its live audio), and send it; "
                             "false: whoever holds them may use them, unless the assistant "
                             "says otherwise")
    end_when_visitor_leaves_seconds: float = key(
        Num(default=60.0, lo=0, hi=3600),
        "end the call (ended reason visitor-left) when neither the visitor nor the assistant "
        "has been heard for this long (Vapi's speech-updates and transcripts, the speaker's "
        "audio); 0: never. Vapi no longer has a silence timeout, and an abandoned call "
        "bills until max_duration_seconds")
    max_daily_minutes: float | None = key(
        Num(lo=0, hi=1440),
        "spending guard: once today's calls (local date, this profile) have lasted this many "
        "minutes in all, no call is placed until tomorrow (the offline line plays; `ctl "
        "status` says why); totals kept in $STATE_DIRECTORY (or ~/.local/state/vapi-bridge), "
        "calls cut off by a crash or a lost link counted once Vapi says their cost; null: no "
        "limit", example=120, commented=True)
    max_daily_cost: float | None = key(
        Num(lo=0, hi=1e6),
        "spending guard: the same for today's cost in USD, as Vapi reports it (GET /call); "
        "null: no limit", example=5.0, commented=True)


@dataclass(frozen=True)
class WireSettings:
    HELP: ClassVar[str] = "the audio format on the call socket"
    format: str = key(Choice(default="pcm_s16le", choices=("pcm_s16le", "mulaw")),
                      "pcm_s16le, or mulaw (G.711)")
    sample_rate: int = key(
        Int(lo=8000, hi=48000),
        "default 16000 for pcm_s16le, 8000 for mulaw (mulaw at another rate is warned about: "
        "G.711 is 8000 Hz)", example=16000, commented=True)

    @property
    def frame_bytes(self) -> int:
        return self.sample_rate // 50 * (2 if self.format == "pcm_s16le" else 1)


@dataclass(frozen=True)
class AudioSettings:
    HELP: ClassVar[str] = ""
    input: str | int = key(
        Device(default="default"),
        "microphone: default, a device name or part of it, an index (see `vapi-bridge "
        "devices`), pulse:NAME (a PulseAudio/PipeWire source, e.g. pulse:ec_mic), "
        "file:PATH.wav (relative to this file's directory), null")
    output: str | int = key(Device(default="default"),
                            "speaker: same choices (pulse:NAME: a sink); file:PATH.wav writes "
                            "a WAV, in a directory that exists (none is made)")
    input_gain_db: float = key(Num(default=0.0, lo=-40, hi=40), "-40..40, applied before sending")
    output_gain_db: float = key(Num(default=0.0, lo=-40, hi=40),
                                "-40..40, applied before playing")
    device_rate: int | None = key(
        Int(lo=8000, hi=192000), "force the device rate; by default the wire rate is tried "
                                 "first, then the device's own default rate (a speaker on "
                                 "an 8 kHz wire: its default rate first)",
        example=48000, commented=True)
    latency: str | float = key(Latency(default="low"),
                               "PortAudio latency: low, high, or seconds (0.02)")
    block_ms: int = key(Int(default=20, lo=5, hi=100), "device callback block, 5..100 ms")
    playout_start_ms: float = key(Num(default=60.0, lo=0, hi=1000),
                                  "audio queued before the speaker starts")
    playout_min_ms: float = key(Num(default=40.0, lo=0, hi=1000),
                                "the adaptive target stays between min and max")
    playout_max_ms: float = key(
        Num(default=200.0, lo=20, hi=3000),
        "delay bound beyond the target, kept by skipping near-silence only (never speech, "
        "never a pause under 850 ms): a reply delivered faster than real time is queued and "
        "played whole")
    echo: str = key(
        Choice(default="gate", choices=("off", "gate", "aec")),
        "keep the assistant's voice out of the microphone: gate (measures the echo path from "
        "what the speaker played; attenuates the mic 30 dB while it holds only echo, passes "
        "a visitor talking over the assistant at once, from its first word, when they are "
        "louder at the mic than its echo: one 15 dB or more under it passes only in its "
        "pauses, and interrupts late or not at all; bridge/audio/echo_gate.py); aec "
        "(WebRTC echo cancellation, needs the extra aec: without it, the error names the "
        "pip command for this copy; removes more echo "
        "but holds back a visitor who interrupts in its first seconds); off (headsets). "
        "Only with a real microphone and speaker.")

    @property
    def playout(self) -> PlayoutSettings:
        from bridge.audio.playout_types import PlayoutSettings  # (numpy: not for `ctl`)

        return PlayoutSettings(start_ms=self.playout_start_ms, max_ms=self.playout_max_ms)


@dataclass(frozen=True)
class TranscriptSettings:
    HELP: ClassVar[str] = ""
    print: str = key(
        Choice(default="auto", choices=("auto", "finals", "all", "off")),
        "what visitors and the assistant say, on stdout: auto (finals, but none when the "
        "output is the journal, under systemd: the journal then holds no conversations; "
        "record.path keeps them), finals, all (partials too), or off")


@dataclass(frozen=True)
class RecordSettings:
    HELP: ClassVar[str] = ""
    path: str | None = key(
        Template(names=("call_id", "profile", "started")),
        "off when null. A path stem with {profile}, {started} and {call_id}, e.g. "
        "recordings/{profile}-{started}-{call_id} writes STEM.wav (stereo at the wire rate: "
        "left = the visitor, right = the assistant) and STEM.jsonl (final transcript lines "
        "as Vapi sent them, then an end line with the full call id). A stem whose files "
        "exist (a path without {call_id}) becomes STEM-2, STEM-3...: never overwritten. "
        "Only those three placeholders ({{ and }} for braces). Relative stems go under "
        "$STATE_DIRECTORY when systemd sets it, else this file's directory. Checked before "
        "each call (exit 2 if it cannot be made); a full disk stops the recording, not the "
        "call.")


@dataclass(frozen=True)
class ServiceSettings:
    HELP: ClassVar[str] = ""
    mode: str = key(
        Choice(default="once", choices=("once", "standby", "loop")),
        "once: one call, then exit (0 when it ended normally); standby: a call on `vapi-bridge "
        "ctl call`, SIGUSR1 or the wake word, then wait again (the devices closed while it "
        "waits, the microphone open for a wake word); loop: call again and again")
    loop_delay_seconds: float = key(Num(default=5.0, lo=0, hi=3600), "loop: pause between calls")
    max_backoff_seconds: float = key(Num(default=300.0, lo=1, hi=86400),
                                     "loop: ceiling of the growing pause after failed calls")
    control_socket: str | None = key(
        Str(), "the `vapi-bridge ctl` socket (mode 0600); default "
               "$RUNTIME_DIRECTORY/PROFILE.sock under systemd, else "
               "$XDG_RUNTIME_DIR/vapi-bridge/PROFILE.sock, else "
               "/tmp/vapi-bridge-UID/PROFILE.sock (not under $TMPDIR: a ctl with another "
               "TMPDIR finds it); a relative path is relative to the profile's directory")
    on_event: str | None = key(
        Str(), "a command run for each kiosk event (docs/events.md), one at a time, in order, "
               "the event in environment variables (VAPI_BRIDGE_EVENT=in-call, "
               "VAPI_BRIDGE_EVENT_JSON, …); a path (relative to the profile's directory) or "
               "a name on PATH, then arguments; partial transcripts are not sent to it",
        example="/usr/local/bin/kiosk-leds", commented=True)
    on_event_timeout_seconds: float = key(
        Num(default=5.0, lo=0.1, hi=600), "on_event: a run still going after this is killed")


@dataclass(frozen=True)
class LogSettings:
    HELP: ClassVar[str] = ""
    level: str = key(Choice(default="info", choices=("debug", "info", "warning", "error")),
                     "debug, info, warning, error")
