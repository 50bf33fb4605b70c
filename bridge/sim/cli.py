"""``vapi-bridge sim``: run the simulator in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import signal
import ssl
import sys
from typing import IO

from bridge.sim.app import Simulator
from bridge.sim.config import (
    DEFAULT_API_KEY,
    DEFAULT_ASSISTANT_IDS,
    DEFAULT_PUBLIC_KEY,
    SimConfig,
    parse_speed,
)
from bridge.sim.faults import describe


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give 0 (a free one) to 65535")
    return port


class _Parser(argparse.ArgumentParser):
    def _print_message(self, message: str, file: IO[str] | None = None) -> None:
        """argparse drops a write that fails: --help on a stdout that cannot be written
        (a full disk) is said instead, as by every vapi-bridge command."""
        if message and file is not None and file is sys.stdout:
            file.write(message)
            file.flush()
            return
        super()._print_message(message, file)


class CannotListen(Exception):
    """The simulator could not start listening (the OSError is its cause)."""

    def __init__(self, exc: OSError, host: str, port: int) -> None:
        where = f"cannot listen on {host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            super().__init__(f"{where}: the port is in use (another simulator?) — give another "
                             f"--port, or --port 0 for a free one (the line it prints names "
                             f"it)")
        elif isinstance(exc, ssl.SSLError):  # a certificate or key it cannot use
            super().__init__(f"{where}: {exc.strerror or exc} — check --tls-cert and --tls-key "
                             f"(PEM files: the certificate chain, and its key)")
        else:
            super().__init__(f"{where}: {exc.strerror or exc} — check --host and --port"
                             + (" (and --tls-cert/--tls-key)" if exc.filename else ""))


def build_parser(prog: str = "vapi-bridge sim") -> argparse.ArgumentParser:
    p = _Parser(
        prog=prog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A local Vapi-compatible simulator (REST, call socket, listen, control).",
        epilog="faults (also per call: POST /call?fault=NAME[=ARG] or header X-Sim-Fault):\n"
        + describe() + "\n\nexit codes:\n  0    stopped (Ctrl-C or SIGTERM)\n"
        "  1    cannot listen on --host/--port (the port in use: give another --port, or --port "
        "0,\n       which picks a free one and prints it), or an internal error\n"
        "  2    a bad option, or a script:/replay: FILE that does not load (the line names "
        "the file and its line);\n       stdout cannot be written (a full disk)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=_port, default=8099,
                   help="port to listen on; 0 picks a free one (default %(default)s)")
    p.add_argument("--assistant", default="echo", help="echo | tone | script:FILE | replay:FILE")
    p.add_argument(
        "--api-key",
        default=None,
        help=f"private key for POST/GET /call (env VAPI_SIM_API_KEY; default {DEFAULT_API_KEY})",
    )
    p.add_argument(
        "--public-key",
        default=DEFAULT_PUBLIC_KEY,
        help="public key for listen/control when their authentication is enabled",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[=ARG]",
        help="inject a fault on every call (repeatable)",
    )
    p.add_argument(
        "--chunking",
        choices=("vapi", "frames"),
        default="vapi",
        help="downlink chunks: Vapi-like (default) or exact 20 ms frames",
    )
    p.add_argument(
        "--downlink-speed",
        default="1",
        metavar="FACTOR|whole",
        help="send the assistant's speech FACTOR times faster than real time (e.g. 1.3, 3), "
        "or each whole reply at once (default 1: real time)",
    )
    p.add_argument("--speech", choices=("auto", "espeak", "tones"), default="auto",
                   help="the assistant's voice: espeak-ng, tones, or auto (espeak-ng when "
                   "installed)")
    p.add_argument("--first-message", default=None, help="replace the assistant's first message")
    p.add_argument("--never-connected-timeout", type=float, default=20.0,
                   help="seconds a created call waits for its socket before it ends "
                   "(default %(default)s)")
    p.add_argument("--replay-speed", type=float, default=1.0,
                   help="replay:FILE assistants: play the recording this much faster "
                   "(default %(default)s)")
    p.add_argument(
        "--backchannel-ms",
        type=float,
        default=600.0,
        help="visitor speech over the assistant interrupts once it lasts this long; shorter "
        "is a backchannel ('okay') that never does (0: interrupt at the onset; default "
        "%(default)s)",
    )
    p.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="the assistant's think time: its reply's audio starts this many ms after the "
        "speech-update (user stopped) that ends the visitor's turn (default 0: at once)",
    )
    p.add_argument(
        "--strict-limits",
        action="store_true",
        help="reject maxDurationSeconds below 10 like Vapi",
    )
    p.add_argument(
        "--assistant-id",
        action="append",
        default=[],
        metavar="ID",
        help="an assistant id the simulator knows (repeatable; default: "
        + ", ".join(DEFAULT_ASSISTANT_IDS) + ")",
    )
    p.add_argument("--tls-cert", default=None, metavar="PEM",
                   help="serve https/wss with this certificate chain (needs --tls-key)")
    p.add_argument("--tls-key", default=None, metavar="PEM", help="the certificate's key")
    levels = p.add_mutually_exclusive_group()
    levels.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    levels.add_argument("-q", "--quiet", action="store_true",
                        help="warnings and errors only (not with -v)")
    return p


async def _serve(cfg: SimConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    sim = Simulator(cfg)
    try:
        await sim.start()
    except OSError as exc:  # (a stdout that cannot be written is not this: said as such)
        await sim.stop()
        raise CannotListen(exc, cfg.host, cfg.port) from None
    try:
        print(f"simulator listening on {sim.base_url} — API key: {cfg.api_key}", flush=True)
        await stop.wait()
    finally:
        await sim.stop()
    print("simulator stopped", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("aiohttp").setLevel(logging.WARNING)
    api_key = args.api_key or os.environ.get("VAPI_SIM_API_KEY") or DEFAULT_API_KEY
    try:
        speed = parse_speed(args.downlink_speed)
        cfg = SimConfig(
            host=args.host,
            port=args.port,
            assistant=args.assistant,
            assistant_ids=tuple(args.assistant_id) or DEFAULT_ASSISTANT_IDS,
            api_key=api_key,
            public_key=args.public_key,
            faults=tuple(args.fault),
            downlink_chunking=args.chunking,
            downlink_speed=speed,
            speech=args.speech,
            first_message=args.first_message,
            never_connected_timeout=args.never_connected_timeout,
            replay_speed=args.replay_speed,
            backchannel_ms=args.backchannel_ms,
            think_ms=args.think_ms,
            strict_limits=args.strict_limits,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        )
    except ValueError as exc:
        print(f"vapi-bridge sim: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(cfg))
    except KeyboardInterrupt:
        pass
    except CannotListen as exc:
        print(f"vapi-bridge sim: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
