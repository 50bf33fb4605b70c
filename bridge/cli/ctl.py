"""`vapi-bridge ctl`: steer the running daemon.

The TEXT of `say` and `add-message` may be several words, as `echo` takes them
(`ctl say One moment please`): joined with single spaces.

Exit codes: 0 done; 1 refused (no call in progress, the call is over, the controlUrl
answered 4xx, not in standby mode, the socket belongs to another user); 2 usage (bad
arguments, bad request), or stdout cannot be written (a full disk); 5 no daemon answers,
or the network failed (controlUrl unreachable, a timeout). `ctl events` streams until
the daemon stops: 0 then (or when stdout is closed), 1, 2, 5 as above (5 also when the
connection breaks), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from bridge import __version__
from bridge.cli import ctl_events
from bridge.cli.parsing import seconds
from bridge.control import status
from bridge.control.client import DEFAULT_TIMEOUT_S, END_TIMEOUT_S, find_socket, request, stream
from bridge.control.request import error, kind_of
from bridge.errors import BridgeError, ExitCode, UsageError
from bridge.inert import printable

EXIT_FOR_KIND = {"usage": ExitCode.PROFILE, "refused": ExitCode.FAILURE,
                 "network": ExitCode.NETWORK, "internal": ExitCode.FAILURE}

Arg = tuple[tuple[str, ...], dict[str, Any]]  # argparse's flags and options


def arg(*flags: str, **options: Any) -> Arg:
    """One argument of a command; its argparse `dest` is the request's key."""
    return flags, options


class Words(argparse.Action):
    """Free text given as several words (`say One moment please`, as `echo` takes them):
    joined with single spaces; a quoted argument is kept as it is."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, " ".join(values))


def free_text(help_text: str) -> Arg:
    return arg("text", nargs="+", action=Words, metavar="TEXT",
               help=f"{help_text}: the words, joined with spaces (quotes not needed; "
                    f"options go before or after them)")


# Each command: its help line, and its arguments (each one a key of the request).
COMMANDS: dict[str, tuple[str, tuple[Arg, ...]]] = {
    "status": ("what the daemon and its call are doing", ()),
    "say": ("Vapi: the assistant says TEXT", (
        free_text("what the assistant says"),
        arg("--end-after", action="store_true", help="end the call after it"),
        arg("--no-interrupt", dest="interruptions", action="store_false",
            help="the visitor cannot interrupt it"),
        arg("--interrupt-assistant", action="store_true",
            help="cut off what the assistant is saying now (default: queue after it)"))),
    "add-message": ("Vapi: add TEXT to the conversation", (
        free_text("the message's text"),
        arg("--role", choices=("system", "user", "assistant"), default="system",
            help="whose message it is (default %(default)s)"),
        arg("--no-response", dest="trigger_response", action="store_false",
            help="do not make the assistant answer it"))),
    "mute-assistant": ("Vapi: the assistant is not heard (it keeps listening)", ()),
    "unmute-assistant": ("Vapi: the assistant is heard again", ()),
    "mute-customer": ("Vapi: the assistant stops hearing the visitor", ()),
    "unmute-customer": ("Vapi: the assistant hears the visitor again", ()),
    "say-first-message": ("Vapi: the assistant says its first message again", ()),
    "mute-mic": ("local: send silence instead of the microphone", ()),
    "unmute-mic": ("local: send the microphone again", ()),
    "end": ("end the call cleanly (the daemon keeps running in standby/loop mode)", ()),
    "transfer": ("Vapi: transfer to a NUMBER or sip: URI", (
        arg("destination", metavar="NUMBER|SIP-URI",
            help="a phone number in E.164 form (e.g. +15551234567; spaces, dashes, dots "
                 "and parentheses are dropped) or a sip:/sips: URI"),
        arg("--message", help="what the assistant says before transferring"),
        arg("--extension", metavar="DIGITS",
            help="dialled once the number answers: 1-10 of 0-9, * and # (e.g. 204)"))),
    "handoff": ("Vapi (controlUrl): hand off to another assistant", (
        arg("assistant_id", metavar="ASSISTANT_ID",
            help="the assistant that takes the call over"),
        arg("--context", default="all", metavar="CONTEXT",
            help="what of the conversation the next assistant gets: none, all (the "
                 "default), userAndAssistantMessages, previousAssistantMessages or last:N"),
        arg("--message", help="what the next assistant says first"))),
    "call": ("standby mode: place a call now", ()),
    "events": ("the kiosk's events as JSON lines, as they happen (docs/events.md)", (
        arg("--partials", action="store_true",
            help="include partial (non-final) transcripts"),)),
}


EPILOGS: dict[str, dict[str, Any]] = {"events": {
    "epilog": ctl_events.EXITS, "formatter_class": argparse.RawDescriptionHelpFormatter}}


def _where(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Which daemon, and how to answer: accepted before and after the command
    (`ctl -p frontdesk status` and `ctl status -p frontdesk`)."""
    opt: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument("--profile", "-p", help="the daemon's profile NAME or PATH", **opt)
    parser.add_argument("--socket", help="the control socket's PATH", **opt)
    parser.add_argument("--json", action="store_true", help="print the daemon's JSON answer "
                        "(events: JSON lines, even on a terminal)", **opt)
    parser.add_argument("--timeout", type=seconds,
                        help=f"seconds to wait for the answer (default "
                             f"{DEFAULT_TIMEOUT_S:.0f}; for end {END_TIMEOUT_S:.0f}: the "
                             f"daemon's longest answer to it)", **opt)


def configure(parser: argparse.ArgumentParser,
              common: argparse.ArgumentParser | None = None) -> None:
    _where(parser, top=True)
    parser.set_defaults(timeout=None)  # (`timeout_of`: the command's own)
    shared = argparse.ArgumentParser(add_help=False)
    _where(shared, top=False)
    parents = [shared, *([common] if common else [])]
    sub = parser.add_subparsers(dest="ctl_command", metavar="COMMAND", required=True)
    for name, (text, args) in COMMANDS.items():
        command = sub.add_parser(name, help=text, description=text, parents=parents,
                                 **EPILOGS.get(name, {}))
        keys = [command.add_argument(*flags, **options).dest for flags, options in args]
        command.set_defaults(request_keys=keys)


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    """The request for the daemon: `cmd` and the command's arguments by their keys."""
    return {"cmd": args.ctl_command, **{key: getattr(args, key) for key in args.request_keys}}


def _check_destination(text: str, extension: str | None) -> None:
    from bridge.vapi.destinations import transfer_destination

    try:
        transfer_destination(text, extension)
    except ValueError as exc:
        raise UsageError(f"transfer: {exc}") from None


def timeout_of(args: argparse.Namespace) -> float:
    """`--timeout`, or the command's default: `end` waits for the daemon's longest answer."""
    if args.timeout is not None:
        return float(args.timeout)
    return END_TIMEOUT_S if args.ctl_command == "end" else DEFAULT_TIMEOUT_S


# a status answer this ctl cannot render (a field missing or of another type): a daemon of
# another version, still running after an upgrade. Before, "internal error: KeyError('mode')"
UNREAD_STATUS = ("the daemon's status is not in the shape this ctl reads (a daemon of another "
                 "vapi-bridge version, still running after an upgrade? restart it); "
                 "`ctl status --json` shows it as it came")


def _say_other_version(running: object) -> None:
    """A daemon left running after an upgrade runs the old code (and may load the new
    one's modules into it): said, on stderr, when its version is not the one installed, or
    when it names none: every daemon since the status carried it names its own (one before
    it was said nothing of, at the very upgrade this line is for)."""
    if running is None:
        print(f"vapi-bridge ctl: the daemon runs a vapi-bridge older than {__version__} (its "
              f"status names no version): restart the daemon to run {__version__}",
              file=sys.stderr)
    elif isinstance(running, str) and running != __version__:
        print(f"vapi-bridge ctl: the daemon runs vapi-bridge {printable(running, 60)}, and "
              f"{__version__} is installed: restart the daemon to run it", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    lines: Iterator[bytes] | None = None
    try:
        if args.profile and args.socket:
            raise UsageError("give --profile or --socket, not both")
        if args.ctl_command == "transfer":  # refused here, before any daemon is asked
            _check_destination(args.destination, args.extension)
        path = find_socket(args.profile, args.socket)
        if args.ctl_command == "events":  # a stream: the answer, then event lines
            answer, lines = stream(path, build_request(args), timeout=timeout_of(args))
        else:
            answer = request(path, build_request(args), timeout=timeout_of(args))
    except BridgeError as exc:  # no daemon, a bad --profile, …: under --json, an answer too
        if isinstance(exc, UsageError):  # said as argparse's and the daemon's refusals are
            exc.program = "vapi-bridge ctl"
        if not args.json:
            raise
        print(json.dumps(error(str(exc), kind_of(exc)), indent=2))
        return int(exc.exit_code)
    if lines is not None and answer.get("ok"):  # a break mid-stream: a line on stderr
        return ctl_events.follow(lines, as_json=args.json)
    if args.ctl_command == "status" and answer.get("ok") and "message" not in answer:
        try:  # (every daemon but a few early ones renders its own: printed as it came)
            answer["message"] = "\n".join(status.lines(answer))
        except (KeyError, TypeError, ValueError, AttributeError):  # not this version's shape
            if not args.json:  # (--json: the answer as it came)
                print(f"vapi-bridge ctl: {UNREAD_STATUS}", file=sys.stderr)
                return ExitCode.FAILURE
    if args.json:
        print(json.dumps(answer, indent=2))
    if answer.get("ok"):
        if not args.json:
            print(answer.get("message", "ok"))
            if args.ctl_command == "status":
                _say_other_version(answer.get("version"))
        return ExitCode.OK
    if not args.json:
        print(f"vapi-bridge ctl: {answer.get('error', 'refused')}", file=sys.stderr)
    return EXIT_FOR_KIND.get(str(answer.get("kind")), ExitCode.FAILURE)
