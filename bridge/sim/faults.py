"""Fault specs: ``NAME[=ARG]``, from the command line, ``?fault=`` or ``X-Sim-Fault``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# name -> (argument syntax, description); "" means no argument.
FAULTS: dict[str, tuple[str, str]] = {
    "http-400": ("[N]", "POST /call answers 400 (first N attempts, or always)"),
    "http-401": ("[N]", "POST /call answers 401 with Vapi's body"),
    "http-402": ("[N]", "POST /call answers 402 insufficient_credits"),
    "http-403": ("[N]", "POST /call answers 403 'error code: 1010' (the CDN's client block)"),
    "http-429": ("[N]", "POST /call answers 429 'Rate limit exceeded', no Retry-After"),
    "http-500": ("[N]", "POST /call answers 500"),
    "http-hang": ("[N]", "POST /call is held open (http_hang_seconds), then 524"),
    "http-portal": ("[N]", "POST /call answers 200 with an HTML page, as a Wi-Fi login page "
                    "(captive portal) does for any request"),
    "http-302": ("[N]", "POST /call answers 302 to a login page (a captive portal)"),
    "list-hang": ("", "GET /call (the list) is held open (http_hang_seconds), then 524: with "
                  "created-hang or http-hang, a link that died as the call was created"),
    "created-hang": ("[N]", "POST /call creates the call, then holds the answer "
                     "(http_hang_seconds) and answers 524: the answer comes too late"),
    "created-drop": ("[N]", "POST /call creates the call, then drops the connection unanswered"),
    "created-500": ("[N]", "POST /call creates the call, then answers 500"),
    "list-500": ("", "GET /call (the list) answers 500"),
    "lookup-500": ("[N]", "GET /call/{id} answers 500 (the call's first N lookups, or all)"),
    "lookup-slow": ("MS", "GET /call/{id} of the call is answered MS ms late, as from a "
                    "loaded Vapi (a client that asks what an earlier call cost before the "
                    "next one waits for it)"),
    "list-400": ("", "GET /call (the list) answers 400, as a Vapi whose list query changed"),
    "created-hostile-id": ("", "POST /call creates the call and answers 201 with an id no call "
                           "has: a path (../), a newline, a journal priority, ANSI escapes"),
    "connect-delay": ("MS", "call socket: the websocket upgrade is held MS ms, then answered"),
    "ws-close-1006": ("SECONDS[@HOLD]", "call socket: TCP aborted without a close frame after "
                      "SECONDS; the call ends then, or HOLD s later"),
    "ws-drop": (
        "SECONDS[@HOLD]",
        "call socket goes dead at SECONDS (no audio, events, pongs), "
        "TCP aborted HOLD s later (default 10)",
    ),
    "power-cut": ("HOLD", "the client's socket closing (even with a close frame) or dropping "
                  "leaves the call in progress HOLD s more, as when a kiosk loses power: no "
                  "FIN reaches Vapi, which goes on billing until it notices"),
    "malformed-json": ("[SECONDS]", "invalid JSON / unknown events every SECONDS (default 1)"),
    "hostile-text": (
        "[SECONDS]",
        "at SECONDS (default 0.5), frames a hostile server could send: forged log lines, "
        "ANSI escapes, lone surrogates, huge numbers, wrong types, nesting 5000 deep, NaN, "
        "a megabyte of escaped quotes never closed; first, a text frame over 1 MiB",
    ),
    "schema-variants": (
        "[SECONDS]",
        "at SECONDS (default 0.5), every message type clientMessages can ask for, in every "
        "shape Vapi's schema allows: each status, optional fields left out or null, objects "
        "and arrays where strings were seen, captions with timing, transfers to an "
        "assistant or a workflow step, a filtered transcript, unicode, 42,500-character texts",
    ),
    "echo-secrets": (
        "[SECONDS]",
        "at SECONDS (default 0.5), a transcript, a status and the ended reason echo the "
        "call's id and URLs and the private key (a proxy's error page, a model repeating "
        "its prompt)",
    ),
    "long-history": (
        "KIB[@SECONDS]",
        "every conversation-update carries KIB KiB of earlier turns (a long call's: Vapi "
        "sends the whole conversation each time), a turn more each time; @SECONDS: one is "
        "also sent every SECONDS, whoever is speaking",
    ),
    "odd-binary": (
        "",
        "every downlink binary frame has an odd length, even with --chunking frames",
    ),
    "no-bed": ("", "no downlink audio between utterances: a chunk holding none of the "
               "assistant's speech is not sent (a server that streams only speech, not "
               "Vapi's near-silence)"),
    "tiny-frames": ("", "every downlink binary frame is 1-7 bytes (with --downlink-speed whole: "
                    "a flood of tens of thousands of messages)"),
    "stall": ("MS[@SECONDS]", "downlink stalls MS ms at SECONDS (default 2), then catches up"),
    "burst": (
        "SECONDS",
        "at SECONDS, the next 1 s of downlink audio is sent at once (then nothing until it is due)",
    ),
    "one-frame": (
        "",
        "all downlink audio due at a send instant goes out as one binary frame, however large "
        "(with a burst or --downlink-speed whole: oversized frames)",
    ),
    "interrupt-tail": ("[MS[@HOLD]]", "after user-interrupted, MS ms more (default 200) of "
                       "the interrupted line is sent before it stops (an audio path lagging "
                       "the events); @HOLD: the downlink holds its audio HOLD ms before the "
                       "event, sent right after it"),
    "user-partials": ("[MS]", "while the visitor speaks, a user transcript partial every MS "
                      "ms (default 480) of their speech, as Vapi's transcriber sends them"),
    "interrupt-no-turnid": ("", "user-interrupted carries no turnId (optional in the schema)"),
    "interrupt-unsaid": ("", "the interrupted line is cut with no user-interrupted sent"),
    "interrupt-twice": ("[MS]", "a second user-interrupted, without turnId, MS ms (default 300) "
                        "after the first"),
    "interrupt-again": ("[MS]", "user-interrupted, without turnId, said again MS ms (default "
                        "500) after the next line's speech-update started (a late duplicate)"),
    "stale-started": ("[MS]", "the cut line's speech-update started comes again MS ms "
                      "(default 50) after user-interrupted (reordered behind it)"),
    "delay-in-progress": ("MS", "status-update in-progress is sent MS ms after connect"),
    "jitter": ("MS", "each downlink chunk is delayed by a random 0..MS ms (same average rate)"),
    "hang": ("MS", "the assistant takes MS ms before each reply and sends 'hang' meanwhile"),
    "wrapped-events": ("", 'server events are wrapped as {"message": {...}} (webhook shape)'),
    "bracketed-finals": ("", 'final transcripts come typed transcript[transcriptType="final"] '
                         "(the schema's other ClientMessageTranscript type)"),
    "spec-shapes": (
        "",
        "conversation-update carries 'messages' (spec) instead of 'conversation'; "
        "events carry timestamp and call",
    ),
    "end-close": ("CODE", "after 'ended', close with 1000, 1001, 1005 (no code) or 1006 (abort, "
                  "once what was sent has left for the kernel), or 0: leave the socket open"),
    "ended-first": ("[MS]", "a line that ends the call (a goodbye) has its status-update ended "
                    "sent MS ms (default 0) after its speech-update started, ahead of its "
                    "audio, which goes on at the downlink's pace; the close follows it"),
    "ended-slow": ("MS", "Vapi ends the call (its controlUrl answers 400 from then on) but "
                   "says so MS ms late: the status-update ended and the close, and GET "
                   "/call/{id}, which says in-progress until then"),
    "monitor-in-create": ("", "the 201 response of POST /call includes 'monitor'"),
    "listen-swap": ("", "listen socket: channel 0 = assistant, channel 1 = customer"),
    "listen-no-start": ("", "listen socket: no {\"type\": \"start\"} text frame first"),
    "listen-encoding": ("NAME", "listen socket: the start frame announces encoding NAME"),
    "control-slow": ("MS", "every controlUrl request is answered MS ms late (on top of the "
                     "usual 0.2-0.3 s), as from a loaded Vapi"),
    "control-down": ("[N]", "the controlUrl is unreachable for the first N requests (or all): "
                     "each is held (http_hang_seconds), not acted on, and its connection "
                     "aborted, as over a link that died"),
    "say-late": ("[MS]", "a controlUrl say is accepted (200) and spoken MS ms later "
                 "(default: a random 0.3-10 s)"),
    "say-lost": ("[N]", "a controlUrl say is accepted (200) and never spoken (the first N, "
                 "or all)"),
    "vapi-error": ("REASON[@SECONDS]", "Vapi ends the call with REASON at SECONDS (default 1), "
                   "as when its side fails (e.g. pipeline-error-openai-llm-failed): "
                   "status-update ended, then close 1000"),
    "transfer-fails": ("[REASON]", "a transfer (the client's, or a script's line) fails: "
                       "transfer-update, then Vapi ends the call with REASON (default "
                       "call.in-progress.error-transfer-failed; e.g. call.forwarding.operator-"
                       "busy), as its default fallbackPlan does: status-update ended, close 1000"),
}

NEEDS_ARG = {
    "long-history",
    "control-slow",
    "lookup-slow",
    "listen-encoding",
    "connect-delay",
    "ws-close-1006",
    "ws-drop",
    "power-cut",
    "stall",
    "burst",
    "delay-in-progress",
    "jitter",
    "hang",
    "end-close",
    "ended-slow",
    "vapi-error",
}
TEXT_ARG = {"listen-encoding"}  # a word, not a number
REASON = r"[a-z0-9][a-z0-9.-]{0,159}"  # an endedReason
REASON_ARGS = {"vapi-error": re.compile(REASON + r"(@[0-9]+(\.[0-9]+)?)?"),
               "transfer-fails": re.compile(REASON)}
HTTP_FAULTS = ("http-400", "http-401", "http-402", "http-403", "http-429", "http-500",
               "http-hang", "http-portal", "http-302")
CREATED_FAULTS = ("created-hang", "created-drop", "created-500")  # after the call exists


@dataclass(frozen=True)
class Fault:
    name: str
    arg: str | None = None

    @property
    def raw(self) -> str:
        return self.name if self.arg is None else f"{self.name}={self.arg}"

    def number(self, default: float = 0.0) -> float:
        """The first number of the argument (before any '@')."""
        if not self.arg:
            return default
        return float(self.arg.split("@", 1)[0])

    def at(self, default: float) -> float:
        """The number after '@', if any."""
        if self.arg and "@" in self.arg:
            return float(self.arg.split("@", 1)[1])
        return default


def parse_fault(text: str) -> Fault:
    name, _, arg = text.strip().partition("=")
    name = name.strip().lower()
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r} (known: {', '.join(sorted(FAULTS))})")
    if not arg and name in NEEDS_ARG:
        raise ValueError(f"fault {name} needs an argument: {name}={FAULTS[name][0]}")
    if arg and not FAULTS[name][0]:
        raise ValueError(f"fault {name} takes no argument")
    fault = Fault(name, arg.strip() or None)
    if name in TEXT_ARG:
        return fault
    if name in REASON_ARGS:
        if fault.arg is not None and not REASON_ARGS[name].fullmatch(fault.arg):
            raise ValueError(f"bad argument for {name}: {arg!r} (syntax {FAULTS[name][0]})")
        return fault
    try:
        fault.number()
        fault.at(0.0)
    except ValueError:
        raise ValueError(f"bad argument for {name}: {arg!r} (syntax {FAULTS[name][0]})") from None
    if name == "end-close" and fault.number() not in (0, 1000, 1001, 1005, 1006):
        raise ValueError("end-close takes 0, 1000, 1001, 1005 or 1006")
    return fault


def parse_faults(specs: Iterable[str]) -> tuple[Fault, ...]:
    """Parse specs, each possibly comma-separated; later ones replace earlier ones by name."""
    found: dict[str, Fault] = {}
    for spec in specs:
        for part in spec.split(","):
            if part.strip():
                fault = parse_fault(part)
                found[fault.name] = fault
    return tuple(found.values())


class FaultSet:
    """The faults in force for one call (global ones, then per-call ones on top)."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._by_name = {f.name: f for f in faults}

    def get(self, name: str) -> Fault | None:
        return self._by_name.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        return [f.raw for f in self._by_name.values()]

    def merged(self, more: Iterable[Fault]) -> FaultSet:
        return FaultSet([*self._by_name.values(), *more])


def describe() -> str:
    lines = []
    for name, (syntax, text) in FAULTS.items():
        if syntax.startswith("["):
            spec = f"{name}[={syntax[1:-1]}]"
        else:
            spec = f"{name}={syntax}" if syntax else name
        lines.append(f"  {spec:<24} {text}")
    return "\n".join(lines)
