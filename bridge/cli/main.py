"""The `vapi-bridge` command: run | demo | sim | check | devices | init | unit | ctl | listen.

Every user error ends as one line on stderr and the exit code of its kind; a traceback is
shown only for an internal error, and only with -v."""

from __future__ import annotations

from bridge.cli import interrupt  # isort: skip  (first: Ctrl-C as the rest loads exits 130)

import argparse
import logging
import sys
from collections.abc import Callable

from bridge import __version__
from bridge.cli.parsing import (
    BOTH_LEVELS,
    ModuleDoc,
    Parser,
    global_options,
    levels_conflict,
    split_sim,
)
from bridge.cli.stdout import StdoutError, checked_stdout, reader_left
from bridge.cli.text import (
    CHECK_EXITS,
    DEMO_EXITS,
    DEVICES_EXITS,
    INIT_EXITS,
    PROFILE_HELP,
    RUN_EXITS,
    SET_HELP,
    UNIT_EXITS,
)
from bridge.errors import BridgeError, ExitCode, UsageError
from bridge.service.logsetup import setup_logging

log = logging.getLogger("bridge")
interrupt.loaded()  # an importer's Ctrl-C is its own; a command's, `interrupt.run`'s


def _level(args: argparse.Namespace, default: str = "info") -> str:
    return "debug" if args.verbose else "warning" if args.quiet else default


def cmd_run(args: argparse.Namespace) -> int:
    try:  # a Ctrl-C before the daemon takes the signal says what it would (interrupt.py)
        import asyncio  # here, not above: `ctl` and `--help` do without it

        from bridge.cli.transcript import TerminalView
        from bridge.control.server import serve_control
        from bridge.profile import load_profile
        from bridge.service.daemon import Daemon
        from bridge.web import require_http, serve_http

        profile = load_profile(args.profile, args.set)
        setup_logging(_level(args, profile.log.level), pinned=args.verbose or args.quiet)
        for line in profile.warning_lines():
            log.warning("%s", line)
        require_http(profile)  # before anything is opened, bound or logged as started
        daemon = Daemon(profile, reload_from=args.profile, overrides=args.set,
                        fault=args.fault, view=TerminalView(), control=serve_control,
                        web=serve_http)
    except KeyboardInterrupt:
        return interrupt.early_stop("run")
    return asyncio.run(daemon.run())


def cmd_demo(args: argparse.Namespace) -> int:
    import asyncio

    from bridge.cli.demo import run_demo

    setup_logging(_level(args))
    return asyncio.run(run_demo(headless=args.headless, out=args.out, wire=args.wire))


def run_sim(sim_args: list[str]) -> int:
    try:
        from bridge.sim.cli import main as sim_main
    except ImportError as exc:
        from bridge.extras import missing_extra

        raise UsageError(missing_extra("sim", "the simulator", exc.name)) from None
    interrupt.loaded()  # loaded: Ctrl-C is the simulator's to handle
    return sim_main(sim_args)


def cmd_check(args: argparse.Namespace) -> int:
    import asyncio

    from bridge.cli.check import run_check

    setup_logging(_level(args, "warning"))
    return asyncio.run(run_check(args.profile, args.set, args.beep, as_json=args.json))


def cmd_ctl(args: argparse.Namespace) -> int:
    from bridge.cli.ctl import run as run_ctl

    setup_logging(_level(args, "warning"))
    return run_ctl(args)


def cmd_listen(args: argparse.Namespace) -> int:
    from bridge.cli.listen import cmd as run_listen

    setup_logging(_level(args, "warning"))
    return run_listen(args)


def cmd_devices(args: argparse.Namespace) -> int:
    from bridge.cli.devices import show_devices

    setup_logging(_level(args, "warning"))
    return show_devices(args.json)


def cmd_init(args: argparse.Namespace) -> int:
    from bridge.cli.scaffold import init

    said = init(args.name, force=args.force)
    if said:
        print(said)
    return ExitCode.OK


def cmd_unit(args: argparse.Namespace) -> int:
    from bridge.cli.scaffold import print_unit

    print_unit(args.user)
    return ExitCode.OK


NATIVE_STDERR_COMMANDS = ("run", "demo", "check", "devices", "listen")


def _sub(sub: argparse._SubParsersAction, name: str, help_text: str, doc: str | ModuleDoc,
         epilog: str | None = None, **kwargs: object) -> argparse.ArgumentParser:
    """A command whose --help has a description (the module's docstring) and exit codes."""
    if isinstance(doc, ModuleDoc):  # (read for --help only)
        doc = ModuleDoc(doc.module, help_text)
    return sub.add_parser(name, help=help_text, description=doc or help_text, epilog=epilog,
                          formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def build_parser() -> Parser:
    parser = Parser(prog="vapi-bridge", description=__doc__.splitlines()[0],
                                     epilog=RUN_EXITS.replace(
                                         "exit codes:", "exit codes of run (each COMMAND "
                                         "--help lists its own):", 1),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"vapi-bridge {__version__}")
    global_options(parser, top=True)
    common = Parser(add_help=False)
    global_options(common, top=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = _sub(sub, "run", "place a call with a profile",
               "Place a call with a profile: the microphone and speaker bridged to a Vapi "
               "call.\nservice.mode in the profile: once (one call), standby (a call on "
               "`ctl call` or SIGUSR1), loop.", RUN_EXITS, parents=[common])
    run.add_argument("--profile", "-p", required=True, help=PROFILE_HELP)
    run.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help=SET_HELP)
    run.add_argument("--fault", help=argparse.SUPPRESS)  # simulator fault for tests
    run.set_defaults(func=cmd_run)

    demo = _sub(sub, "demo", "try it with no account: a call to the built-in simulator",
                ModuleDoc("bridge.cli.demo"), DEMO_EXITS, parents=[common])
    demo.add_argument("--headless", action="store_true",
                      help="speak a WAV into the call instead of using the microphone")
    demo.add_argument("--out", default="out/demo-reply.wav",
                      help="where the headless demo writes the assistant's audio "
                           "(default %(default)s)")
    demo.add_argument("--wire", choices=("pcm_s16le", "mulaw"), default="pcm_s16le",
                      help="the audio format on the call socket (default %(default)s)")
    demo.set_defaults(func=cmd_demo)

    sim = sub.add_parser("sim", help="run the Vapi-compatible simulator (see `sim --help`)",
                         add_help=False)
    sim.add_argument("sim_args", nargs=argparse.REMAINDER)
    sim.set_defaults(func=lambda args: run_sim(args.sim_args))

    check = _sub(sub, "check", "check a profile, the API key, the network and the devices",
                 ModuleDoc("bridge.cli.check"), CHECK_EXITS, parents=[common])
    check.add_argument("--profile", "-p", required=True, help=PROFILE_HELP)
    check.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help=SET_HELP)
    check.add_argument("--beep", action="store_true",
                       help="play a short tone and record a second, showing the input level")
    check.add_argument("--json", action="store_true",
                       help="print the results as JSON (one object: ok, exit_code, checks[])")
    check.set_defaults(func=cmd_check)

    devices = _sub(sub, "devices", "list audio devices",
                   "List the audio devices PortAudio sees (ALSA), and the PulseAudio/PipeWire "
                   "sources and sinks that audio.input/audio.output can name as pulse:NAME.",
                   DEVICES_EXITS, parents=[common])
    devices.add_argument("--json", action="store_true", help="print the list as JSON")
    devices.set_defaults(func=cmd_devices)

    init = _sub(sub, "init", "write a commented profile to start from",
                "Write the example profile (every key, with its default and what it does) to "
                "./NAME.yaml, or to PATH.", INIT_EXITS, parents=[common])
    init.add_argument("name", metavar="NAME|PATH",
                      help="a profile name (writes ./NAME.yaml), a path, or - for stdout")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(func=cmd_init)

    unit = _sub(sub, "unit", "print the systemd unit for this installation",
                "Print the systemd template unit vapi-bridge@.service, its ExecStart= "
                "pointing at this installation. System unit: save it as "
                "/etc/systemd/system/vapi-bridge@.service; --user: as "
                "~/.config/systemd/user/vapi-bridge@.service (docs: kiosk-install.md).",
                UNIT_EXITS, parents=[common])
    unit.add_argument("--user", action="store_true",
                      help="the per-user unit (audio through the user's PulseAudio/PipeWire)")
    unit.set_defaults(func=cmd_unit)

    from bridge.cli import ctl as ctl_args
    from bridge.cli import listen_args

    ctl = sub.add_parser("ctl", parents=[common], help="steer the running daemon's call",
                         description=ctl_args.__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    ctl_args.configure(ctl, common)
    ctl.set_defaults(func=cmd_ctl)
    listen = sub.add_parser("listen", parents=[common], help="record or play a call live",
                            description=listen_args.__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    listen_args.configure(listen)
    listen.set_defaults(func=cmd_listen)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return interrupt.run(lambda: checked_stdout(lambda: _main(argv), _err_prefix))


def _main(argv: list[str]) -> int:
    sim = split_sim(argv)
    if sim is not None:
        before, sim_args = sim
        if levels_conflict(before):
            build_parser().error(BOTH_LEVELS)
        sim_args = [*before[:1], *sim_args]  # -v or -q (not both), for the simulator
        try:
            return run_sim(sim_args)
        except BridgeError as exc:
            print(f"vapi-bridge: {_masked(str(exc))}", file=sys.stderr)
            return int(exc.exit_code)
    parser = build_parser()  # (its lazy imports too: Ctrl-C exits at once until here)
    args = parser.parse_args(argv)
    interrupt.loaded()
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)  # a usage error: stdout stays for output
        return ExitCode.PROFILE
    try:
        if args.command in NATIVE_STDERR_COMMANDS:  # they open PortAudio
            from bridge.audio.native_stderr import capture

            with capture():
                return int(func(args))
        return int(func(args))
    except BridgeError as exc:  # a user error: its message says it all, never a traceback
        print(f"{_err_prefix()}{exc.program}: {_masked(str(exc))}", file=sys.stderr)
        return int(exc.exit_code)
    except StdoutError:
        raise
    except Exception as exc:
        if reader_left(exc):  # `| head`: stdout's reader went away
            return ExitCode.OK
        if not logging.getLogger().handlers:  # it failed before the command set logging up
            setup_logging(_level(args, "warning"))
        log.debug("internal error", exc_info=True)
        print(f"{_err_prefix()}vapi-bridge: internal error: {_masked(repr(exc))} — run with "
              f"-v for details and please report it", file=sys.stderr)
        return ExitCode.FAILURE


def _err_prefix() -> str:
    """Under systemd the journal reads a syslog priority from the line: this is an error."""
    from bridge.service.logsetup import under_journal

    return "<3>" if under_journal() else ""


def _masked(text: str) -> str:
    """Secrets masked, and one inert line whatever the text held (server text often)."""
    from bridge.inert import printable
    from bridge.redact import scrub_urls

    return printable(scrub_urls(text), 2000)  # (server text in it was made inert already)


if __name__ == "__main__":
    raise SystemExit(main())
