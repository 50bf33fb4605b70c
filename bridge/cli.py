"""The `vapi-bridge` command: run | demo | sim | devices | check | ctl | listen.

Every user error ends as one line on stderr and the exit code of its kind; a traceback is
shown only for an internal error, and only with -v.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable

from bridge import __version__
from bridge.errors import BridgeError, ExitCode, UsageError
from bridge.logsetup import setup_logging

log = logging.getLogger("bridge")


def _level(args: argparse.Namespace, default: str = "info") -> str:
    if args.verbose:
        return "debug"
    if args.quiet:
        return "warning"
    return default


def cmd_run(args: argparse.Namespace) -> int:
    from bridge.daemon import Daemon
    from bridge.profile import load_profile

    profile = load_profile(args.profile, args.set)
    setup_logging(_level(args, profile.log.level))
    for warning in profile.warnings:
        log.warning("%s: %s", profile.origin, warning)
    daemon = Daemon(profile, reload_from=args.profile, overrides=args.set, fault=args.fault)
    return asyncio.run(daemon.run())


def cmd_demo(args: argparse.Namespace) -> int:
    from bridge.demo import run_demo

    setup_logging(_level(args))
    return asyncio.run(run_demo(headless=args.headless, out=args.out, wire=args.wire))


def cmd_sim(args: argparse.Namespace) -> int:
    return run_sim(args.sim_args)


def run_sim(sim_args: list[str]) -> int:
    try:
        from bridge.sim.cli import main as sim_main
    except ImportError as exc:
        raise UsageError(f"the simulator needs the [sim] extra ({exc.name} is missing) — "
                         f"run: pip install 'vapi-bridge[sim]'") from None
    return sim_main(sim_args)


def cmd_check(args: argparse.Namespace) -> int:
    from bridge.check import run_check

    setup_logging(_level(args, "warning"))
    return asyncio.run(run_check(args.profile, args.set, args.beep))


def cmd_ctl(args: argparse.Namespace) -> int:
    from bridge.control.ctl import run as run_ctl

    setup_logging(_level(args, "warning"))
    return run_ctl(args)


def cmd_listen(args: argparse.Namespace) -> int:
    from bridge.control.listen_cmd import cmd as run_listen

    setup_logging(_level(args, "warning"))
    return run_listen(args)


def cmd_devices(args: argparse.Namespace) -> int:
    from bridge.audio.device_lookup import list_devices

    devices = list_devices()
    if args.json:
        print(json.dumps(devices, indent=2))
        return 0
    if not devices:
        print("no audio devices found")
        return 0
    print(f"{'idx':>3}  {'in':>2} {'out':>3}  {'rate':>6}  {'host API':<10} name")
    for d in devices:
        mark = (" <- default input" if d["default_input"] else "") + \
               (" <- default output" if d["default_output"] else "")
        print(f"{d['index']:>3}  {d['inputs']:>2} {d['outputs']:>3}  "
              f"{int(d['default_rate']):>6}  {d['hostapi'][:10]:<10} {d['name']}{mark}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vapi-bridge", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"vapi-bridge {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    common.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="place a call with a profile")
    run.add_argument("--profile", "-p", required=True,
                     help="a profile NAME (config/NAME.yaml, /etc/vapi-bridge/NAME.yaml) or PATH")
    run.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override one profile key, e.g. --set audio.input=null")
    run.add_argument("--fault", help=argparse.SUPPRESS)  # simulator fault for tests
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", parents=[common],
                          help="try it with no account: a call to the built-in simulator")
    demo.add_argument("--headless", action="store_true",
                      help="speak a WAV into the call instead of using the microphone")
    demo.add_argument("--out", default="out/demo-reply.wav",
                      help="where the headless demo writes the assistant's audio")
    demo.add_argument("--wire", choices=("pcm_s16le", "mulaw"), default="pcm_s16le")
    demo.set_defaults(func=cmd_demo)

    sim = sub.add_parser("sim", help="run the Vapi-compatible simulator (see `sim --help`)",
                         add_help=False)
    sim.add_argument("sim_args", nargs=argparse.REMAINDER)
    sim.set_defaults(func=cmd_sim)

    check = sub.add_parser("check", parents=[common],
                           help="check a profile, the API key, the network and the devices")
    check.add_argument("--profile", "-p", required=True, help="a profile NAME or PATH")
    check.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    check.add_argument("--beep", action="store_true",
                       help="play a short tone and record a second, showing the input level")
    check.set_defaults(func=cmd_check)

    devices = sub.add_parser("devices", parents=[common], help="list audio devices")
    devices.add_argument("--json", action="store_true")
    devices.set_defaults(func=cmd_devices)

    from bridge.control import ctl as ctl_args
    from bridge.control import listen_args

    ctl = sub.add_parser("ctl", parents=[common], help="steer the running daemon's call",
                         description=ctl_args.__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    ctl_args.configure(ctl)
    ctl.set_defaults(func=cmd_ctl)
    listen = sub.add_parser("listen", parents=[common], help="record or play a call live",
                            description=listen_args.__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    listen_args.configure(listen)
    listen.set_defaults(func=cmd_listen)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "sim":  # the simulator parses its own options
        try:
            return run_sim(argv[1:])
        except BridgeError as exc:
            print(f"vapi-bridge: {_masked(str(exc))}", file=sys.stderr)
            return int(exc.exit_code)
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return ExitCode.PROFILE
    try:
        return int(func(args))
    except BridgeError as exc:  # a user error: its message says it all, never a traceback
        print(f"{_err_prefix()}vapi-bridge: {_masked(str(exc))}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return ExitCode.SIGINT
    except Exception as exc:
        log.debug("internal error", exc_info=True)
        print(f"{_err_prefix()}vapi-bridge: internal error: {_masked(repr(exc))} — run with "
              f"-v for details "
              f"and please report it", file=sys.stderr)
        return ExitCode.FAILURE


def _err_prefix() -> str:
    """Under systemd the journal reads a syslog priority from the line: this is an error."""
    from bridge.logsetup import under_journal

    return "<3>" if under_journal() else ""


def _masked(text: str) -> str:
    """Secrets masked, and one inert line whatever the text held (server text often)."""
    from bridge.inert import inert
    from bridge.redact import scrub_urls

    return inert(scrub_urls(text), 2000)


if __name__ == "__main__":
    raise SystemExit(main())
