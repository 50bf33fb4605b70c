"""The command line's parser: argparse, with errors that say which command they are about
and what was probably meant.

- An option a command does not have is reported by that command (`vapi-bridge run:
  error: unrecognized arguments: --sett x=y (did you mean --set?)`), not by the top level.
- A command that needs --profile, given one bare word instead (`run kiosk`), suggests
  `--profile kiosk`.
- A command that does not exist suggests the closest one, or the one a word from Vapi or
  another tool means (`ctl hangup`: `end`).
- -v/--verbose and -q/--quiet exclude each other, wherever each is given (before or after
  the command), as in most Linux tools: exit 2 with argparse's usual line.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any, NoReturn

VERBOSE = ("-v", "--verbose")
QUIET = ("-q", "--quiet")
BOTH_LEVELS = "argument -q/--quiet: not allowed with argument -v/--verbose"
# words for a command that are no command's name: Vapi's own, and other tools'
COMMAND_WORDS = {"hangup": "end", "end-call": "end", "hang-up": "end", "stop": "end",
                 "mute": "mute-mic", "unmute": "unmute-mic", "start": "call",
                 "dial": "call", "logs": "events", "watch": "events"}


@dataclass(frozen=True)
class ModuleDoc:
    """A command's description: a module's docstring, read from its source without importing
    it (that would load PortAudio), and only for --help (parsing the two modules' sources
    cost every command, `run` and `ctl` included, 10 ms of CPU at each start)."""

    module: str
    fallback: str = ""  # said when the module has no docstring (the command's help line)

    def read(self) -> str:
        import ast
        import importlib.util

        spec = importlib.util.find_spec(self.module)
        if spec is None or spec.origin is None:
            return self.fallback
        with open(spec.origin, encoding="utf-8") as f:
            return ast.get_docstring(ast.parse(f.read())) or self.fallback


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors name the command and the likely fix (module doc);
    its subcommands' parsers are of this class too."""

    _argv: list[str]

    def parse_known_args(self, args: Sequence[str] | None = None,
                         namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        self._argv = list(args or [])
        return super().parse_known_args(args, namespace)

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: Any = None) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        command = self.command_parser(parsed)
        if extras:
            command.error(f"unrecognized arguments: {' '.join(extras)}"
                          f"{command.did_you_mean(extras)}")
        if getattr(parsed, "verbose", False) and getattr(parsed, "quiet", False):
            command.error(BOTH_LEVELS)
        return parsed

    def command_parser(self, parsed: argparse.Namespace) -> Parser:
        """The innermost (sub)command's parser the arguments reached (`ctl status`'s)."""
        parser: Parser = self
        for dest in ("command", "ctl_command"):
            choices = parser.subcommands()
            name = getattr(parsed, dest, None)
            if name not in choices:
                break
            parser = choices[name]
        return parser

    def subcommands(self) -> dict[str, Parser]:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    def did_you_mean(self, extras: list[str]) -> str:
        """` (did you mean --set?)` for the first unknown option close to one of this
        command's, else ""."""
        options = [o for o, action in self._option_string_actions.items()
                   if o.startswith("--") and action.help != argparse.SUPPRESS]
        for extra in extras:
            if extra.startswith("--"):
                close = difflib.get_close_matches(extra.split("=", 1)[0], options, n=1,
                                                cutoff=0.75)
                if close:
                    return f" (did you mean {close[0]}?)"
        return ""

    def format_help(self) -> str:
        if isinstance(self.description, ModuleDoc):
            self.description = self.description.read()
        return super().format_help()

    def _print_message(self, message: str, file: IO[str] | None = None) -> None:
        """argparse drops a write that fails; --help and --version on a stdout that cannot
        be written are said (`bridge.cli.stdout`)."""
        if message and file is not None and file is sys.stdout:
            file.write(message)
            file.flush()
            return
        super()._print_message(message, file)

    def error(self, message: str) -> NoReturn:
        if "invalid choice: " in message and (commands := self.subcommands()):
            word = message.split("invalid choice: ", 1)[1].split(" (choose from", 1)[0]
            meant = COMMAND_WORDS.get(word.strip("'\""))
            close = meant if meant in commands else next(iter(difflib.get_close_matches(
                word.strip("'\""), list(commands), n=1, cutoff=0.6)), None)
            if close in commands:
                message += f" — did you mean {close}?"
            elif meant is not None and "ctl" in commands:  # `vapi-bridge hangup`
                message += f" — did you mean ctl {meant}?"
        if "required: --profile/-p" in message:
            unknown = [t for t in getattr(self, "_argv", []) if t.startswith("--") and t != "--"
                       and not any(o.startswith(t.split("=", 1)[0])  # (--verb: --verbose)
                                   for o in self._option_string_actions)]
            strays = self._bare_words()
            if unknown:  # `run --sett x=y`: the mistyped option, not a profile named x=y
                message = (f"unrecognized arguments: {' '.join(unknown)}"
                           f"{self.did_you_mean(unknown)}; and {message}")
            elif len(strays) == 1:
                message += f" (did you mean --profile {strays[0]}?)"
        super().error(message)

    def _bare_words(self) -> list[str]:
        """The arguments that are no option and no option's value (`kiosk` in `run kiosk`)."""
        words: list[str] = []
        tokens = iter(getattr(self, "_argv", []))
        for token in tokens:
            action = self._option_string_actions.get(token)
            if action is not None and action.nargs != 0 and "=" not in token:
                next(tokens, None)  # the option's value
            elif not token.startswith("-"):
                words.append(token)
        return words


def global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """-v/-q, with defaults on the top parser only: `-v run` and `run -v` both work."""
    default: dict[str, object] = {} if top else {"default": argparse.SUPPRESS}
    levels = parser.add_mutually_exclusive_group()
    levels.add_argument(*VERBOSE, action="store_true", help="debug logging", **default)
    levels.add_argument(*QUIET, action="store_true",
                        help="warnings and errors only (not with -v)", **default)


def log_level(args: argparse.Namespace, default: str = "info") -> str:
    """The log level -v/-q chose, else the command's `default`."""
    return "debug" if args.verbose else "warning" if args.quiet else default


def levels_conflict(before: list[str]) -> bool:
    """Both -v and -q among the options before `sim` (parsed by hand)."""
    return any(a in VERBOSE for a in before) and any(a in QUIET for a in before)


def seconds(text: str) -> float:
    """An option's length of time (ctl --timeout, listen --seconds): a number of seconds
    above 0; anything else is argparse's usage error (exit 2)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 1e6:  # also NaN
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0 "
                                         f"and below 1000000")
    return value


def split_sim(argv: list[str]) -> tuple[list[str], list[str]] | None:
    """`[-v|-q]… sim ARGS`: the simulator parses its own options."""
    i = 0
    while i < len(argv) and argv[i] in ("-v", "--verbose", "-q", "--quiet"):
        i += 1
    if i < len(argv) and argv[i] == "sim":
        return argv[:i], argv[i + 1:]
    return None
