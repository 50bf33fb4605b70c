"""`vapi-bridge ctl`: steer the running daemon.

Exit codes: 0 done; 1 refused (no call in progress, the call is over, the controlUrl
answered 4xx, not in standby mode, the socket belongs to another user); 2 usage (bad
arguments, bad request); 5 no daemon answers, or the network failed (controlUrl
unreachable, a timeout).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bridge.control.client import DEFAULT_TIMEOUT_S, find_socket, request
from bridge.errors import ExitCode, UsageError

EXIT_FOR_KIND = {"usage": ExitCode.PROFILE, "refused": ExitCode.FAILURE,
                 "network": ExitCode.NETWORK, "internal": ExitCode.FAILURE}
SIMPLE = {
    "status": "what the daemon and its call are doing",
    "mute-assistant": "Vapi: the assistant is not heard (it keeps listening)",
    "unmute-assistant": "Vapi: the assistant is heard again",
    "mute-customer": "Vapi: the assistant stops hearing the visitor",
    "unmute-customer": "Vapi: the assistant hears the visitor again",
    "mute-mic": "local: send silence instead of the microphone",
    "unmute-mic": "local: send the microphone again",
    "say-first-message": "Vapi: the assistant says its first message again",
    "end": "end the call cleanly (the daemon keeps running in standby/loop mode)",
    "call": "standby mode: place a call now",
}


def _where(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Which daemon, and how to answer: accepted before and after the command
    (`ctl -p frontdesk status` and `ctl status -p frontdesk`)."""
    opt: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument("--profile", "-p", help="the daemon's profile NAME or PATH", **opt)
    parser.add_argument("--socket", help="the control socket's PATH", **opt)
    parser.add_argument("--json", action="store_true", help="print the daemon's JSON answer",
                        **opt)
    parser.add_argument("--timeout", type=float,
                        help=f"seconds to wait for the answer (default "
                             f"{DEFAULT_TIMEOUT_S:.0f})", **opt)


def configure(parser: argparse.ArgumentParser,
              common: argparse.ArgumentParser | None = None) -> None:
    _where(parser, top=True)
    parser.set_defaults(timeout=DEFAULT_TIMEOUT_S)
    shared = argparse.ArgumentParser(add_help=False)
    _where(shared, top=False)
    parents = [shared, *([common] if common else [])]
    sub = parser.add_subparsers(dest="ctl_command", metavar="COMMAND", required=True)
    for name, text in SIMPLE.items():
        sub.add_parser(name, help=text, description=text, parents=parents)

    say = sub.add_parser("say", help="Vapi: the assistant says TEXT", parents=parents)
    say.add_argument("text", help="what the assistant says")
    say.add_argument("--end-after", action="store_true", help="end the call after it")
    say.add_argument("--no-interrupt", action="store_true",
                     help="the visitor cannot interrupt it")
    say.add_argument("--interrupt-assistant", action="store_true",
                     help="cut off what the assistant is saying now (default: queue after it)")

    add = sub.add_parser("add-message", help="Vapi: add TEXT to the conversation",
                         parents=parents)
    add.add_argument("text", help="the message's text")
    add.add_argument("--role", choices=("system", "user", "assistant"), default="system",
                     help="whose message it is (default %(default)s)")
    add.add_argument("--no-response", action="store_true",
                     help="do not make the assistant answer it")

    transfer = sub.add_parser("transfer", help="Vapi: transfer to a NUMBER or sip: URI",
                              parents=parents)
    transfer.add_argument("destination", metavar="NUMBER|SIP-URI",
                          help="a phone number (E.164, e.g. +15551234567) or a sip: URI")
    transfer.add_argument("--message", help="what the assistant says before transferring")

    handoff = sub.add_parser("handoff", help="Vapi (controlUrl): hand off to another assistant",
                             parents=parents)
    handoff.add_argument("assistant_id", metavar="ASSISTANT_ID",
                         help="the assistant that takes the call over")
    handoff.add_argument("--context", default="all", metavar="none|all|last:N",
                         help="what of the conversation the next assistant gets (all)")
    handoff.add_argument("--message", help="what the next assistant says first")


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    cmd = args.ctl_command
    req: dict[str, Any] = {"cmd": cmd}
    if cmd == "say":
        req.update(text=args.text, end_after=args.end_after,
                   interruptions=not args.no_interrupt,
                   interrupt_assistant=args.interrupt_assistant)
    elif cmd == "add-message":
        req.update(text=args.text, role=args.role, trigger_response=not args.no_response)
    elif cmd == "transfer":
        req.update(destination=args.destination, message=args.message)
    elif cmd == "handoff":
        req.update(assistant_id=args.assistant_id, context=args.context, message=args.message)
    return req


def run(args: argparse.Namespace) -> int:
    if args.profile and args.socket:
        raise UsageError("give --profile or --socket, not both")
    path = find_socket(args.profile, args.socket)
    answer = request(path, build_request(args), timeout=args.timeout)
    if args.json:
        print(json.dumps(answer, indent=2))
    if answer.get("ok"):
        if not args.json:
            print(answer.get("message", "ok"))
        return ExitCode.OK
    if not args.json:
        print(f"vapi-bridge ctl: {answer.get('error', 'refused')}", file=sys.stderr)
    return EXIT_FOR_KIND.get(str(answer.get("kind")), ExitCode.FAILURE)
