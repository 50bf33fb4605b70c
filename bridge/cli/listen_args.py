"""`vapi-bridge listen`: record (and play) a call's listen stream; `--verify` it.

Where the listenUrl comes from: `--url`; or `--call-id` (`GET /call/{id}` with the
profile's API settings); or, with neither, the daemon's current call, asked over its
control socket (`--profile`/`--socket`), which needs no private API key in this shell;
the PUBLIC key still, where the call's listen stream wants it (`call.control_auth`): the
daemon does not hand it out, so set VAPI_PUBLIC_KEY here.

Exit codes:
  0  done (and, with --verify, verified)
  1  refused: the listen socket answered 404 or 410 (the call is over, or listening is
     off), no call in progress in the daemon, the stream announced a format it cannot
     play; or --verify inconclusive
  2  usage: bad arguments (--channels other than 1 or 2, a --rate outside 8000 to 48000,
     a --call-id that is no call id, --seconds not above 0), an --out that cannot be
     written, not a ws:// or wss:// URL, or the API knows no call with that --call-id
     (404); each found before the call is joined; or --out's disk filled as it was
     written (what was written stays a valid WAV, mode 0600 as a recording's); or
     stdout, where the events go, cannot be written (a full disk)
  3  the listenUrl wants the public key (401)
  4  the --play speaker is missing or failed
  5  no daemon answers, or the network failed
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from bridge.cli.parsing import seconds
from bridge.errors import UsageError
from bridge.vapi.callinfo import is_call_id
from bridge.vapi.listen_format import CHANNELS, CHANNELS_READ, RATES, RATES_READ

if TYPE_CHECKING:
    from bridge.profile import Profile


def _call_id(text: str) -> str:
    if not is_call_id(text):  # not echoed: a live call's id is a secret
        raise argparse.ArgumentTypeError("not a call id (Vapi's are UUIDs, such as "
                                         "019a6f3e-2b7c-7d41-9c0e-5f1a9a3c1f07): copy it "
                                         "from the dashboard, or give --profile to listen "
                                         "to the daemon's call")
    return text


def _within(text: str, allowed: range | tuple[int, ...], what: str) -> int:
    """--channels/--rate: a whole number listen can read (`listen_format`'s bounds)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value not in allowed:
        raise argparse.ArgumentTypeError(f"{text!r}: listen reads {what}")
    return value


def _channels(text: str) -> int:
    return _within(text, CHANNELS, CHANNELS_READ)


def _rate(text: str) -> int:
    return _within(text, RATES, RATES_READ)


def configure(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--call-id", type=_call_id,
                     help="a call id: its listenUrl is read with GET /call/{id}")
    src.add_argument("--url", help="the listenUrl itself (a secret: prefer --call-id)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--profile", "-p",
                       help="profile NAME or PATH (API settings; the daemon to ask)")
    where.add_argument("--socket", help="the daemon's control socket PATH")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one profile key for --call-id/--url, e.g. --set "
                             "api.base_url=http://127.0.0.1:8790 (repeatable)")
    parser.add_argument("--out", help="the WAV to write (default listen-TIME.wav; "
                                      "'-' for none)")
    parser.add_argument("--play", nargs="?", const="default", metavar="DEVICE",
                        help="play the call live (both parties mixed) on a speaker")
    parser.add_argument("--channels", type=_channels, help="channels in the stream, 1 or 2 "
                        "(default: as announced by the server, else 2)")
    parser.add_argument("--rate", type=_rate, help="sample rate, 8000 to 48000 (default: as "
                        "announced, else 16000)")
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--auth", dest="auth", action="store_true", default=None,
                      help="send the PUBLIC key (listen authentication on); default: the "
                           "profile's (or the daemon's) call.control_auth")
    auth.add_argument("--no-auth", dest="auth", action="store_false",
                      help="do not send the public key")
    parser.add_argument("--seconds", type=seconds, help="stop after this long")
    parser.add_argument("--verify", action="store_true",
                        help="on the daemon's own call: report which channel is which "
                             "(needs record.path in the daemon's profile)")
    parser.add_argument("--no-events", action="store_true", help="do not print text frames")


def listen_key(args: argparse.Namespace, profile: Profile | None, daemon_auth: bool
               ) -> str | None:
    """The PUBLIC key to send, or None: --auth/--no-auth, else the profile's
    `call.control_auth` (else the daemon's, `daemon_auth`). Missing where it is wanted: one
    line naming where to set it."""
    default = bool(profile.call.control_auth) if profile else daemon_auth
    wanted = args.auth if args.auth is not None else default
    if not wanted:
        return None
    from bridge.profile import public_key  # here: the loader is slow to import (numpy)

    key = public_key(profile) if profile else os.environ.get("VAPI_PUBLIC_KEY")
    if key:
        return key
    where = "VAPI_PUBLIC_KEY" if profile is None else \
        f"{profile.api.public_key_env} (or the profile's api.public_key_file)"
    if args.auth:
        raise UsageError(f"--auth needs the PUBLIC key: set {where}")
    if args.url or args.call_id:
        raise UsageError(f"call.control_auth is on ({profile.origin if profile else '?'}), so "
                         f"the listen stream wants the PUBLIC key: set {where}, or give "
                         f"--no-auth for a call that asked for none")
    raise UsageError(f"the daemon's call wants the PUBLIC key on its listen stream "
                     f"(call.control_auth is on), which the daemon does not hand out: set "
                     f"{where} in this shell (no private key is needed)")
