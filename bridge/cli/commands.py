"""What each command of `vapi-bridge` runs: its logging set up (-v/-q, else the command's
own level), then its module, imported only as it runs (`ctl` and `--help` load no asyncio,
PortAudio or HTTP client). The parser names these (`arguments.py`); `main.py` calls them."""

from __future__ import annotations

import argparse
import logging

from bridge.cli import interrupt
from bridge.cli.parsing import log_level
from bridge.errors import ExitCode, UsageError
from bridge.service.logsetup import setup_logging

log = logging.getLogger("bridge")


def cmd_run(args: argparse.Namespace) -> int:
    try:  # a Ctrl-C before the daemon takes the signal says what it would (interrupt.py)
        import asyncio  # here, not above: `ctl` and `--help` do without it

        from bridge.cli.transcript import TerminalView
        from bridge.control.server import serve_control
        from bridge.profile import load_profile
        from bridge.service.daemon import Daemon
        from bridge.web import require_http, serve_http

        profile = load_profile(args.profile, args.set)
        setup_logging(log_level(args, profile.log.level), pinned=args.verbose or args.quiet)
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

    setup_logging(log_level(args))
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

    setup_logging(log_level(args, "warning"))
    return asyncio.run(run_check(args.profile, args.set, args.beep, as_json=args.json))


def cmd_ctl(args: argparse.Namespace) -> int:
    from bridge.cli.ctl import run as run_ctl

    setup_logging(log_level(args, "warning"))
    return run_ctl(args)


def cmd_listen(args: argparse.Namespace) -> int:
    from bridge.cli.listen import cmd as run_listen

    setup_logging(log_level(args, "warning"))
    return run_listen(args)


def cmd_devices(args: argparse.Namespace) -> int:
    from bridge.cli.devices import show_devices

    setup_logging(log_level(args, "warning"))
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
