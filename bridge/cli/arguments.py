"""The `vapi-bridge` command: run | demo | sim | check | devices | init | unit | ctl | listen.

Each command's arguments, its --help (a description and its exit codes) and the function
that runs it (`commands.py`), in one parser: `build_parser`, whose --help opens with the
line above. How the parser reports a mistake is `parsing.py`'s; how a command ends,
`main.py`'s."""

from __future__ import annotations

import argparse

from bridge import __version__
from bridge.cli.commands import (
    cmd_check,
    cmd_ctl,
    cmd_demo,
    cmd_devices,
    cmd_init,
    cmd_listen,
    cmd_run,
    cmd_unit,
    run_sim,
)
from bridge.cli.parsing import ModuleDoc, Parser, global_options
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
