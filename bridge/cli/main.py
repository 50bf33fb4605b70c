"""`vapi-bridge`'s entry point: the command line parsed (`arguments.py`), the command run
(`commands.py`), and how it ends. Every user error ends as one line on stderr and the exit
code of its kind; a traceback is shown only for an internal error, and only with -v."""

from __future__ import annotations

from bridge.cli import interrupt  # isort: skip  (first: Ctrl-C as the rest loads exits 130)

import argparse
import logging
import sys
from collections.abc import Callable

from bridge.cli.arguments import build_parser
from bridge.cli.commands import run_sim
from bridge.cli.parsing import BOTH_LEVELS, levels_conflict, log_level, split_sim
from bridge.cli.stdout import StdoutError, checked_stdout, reader_left
from bridge.errors import BridgeError, ExitCode
from bridge.service.logsetup import setup_logging

log = logging.getLogger("bridge")
interrupt.loaded()  # an importer's Ctrl-C is its own; a command's, `interrupt.run`'s

NATIVE_STDERR_COMMANDS = ("run", "demo", "check", "devices", "listen")


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
            setup_logging(log_level(args, "warning"))
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
