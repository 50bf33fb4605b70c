"""The cost of masking secrets in a log line, over 10,000 calls of a long-running daemon.

Every call registers its URLs and id with the redactor (`CallInfo.from_body`); the real
log path (the redacting filter and the terminal formatter, to /dev/null) then writes a
few typical lines per call. At call 1, 10, 100, 1,000 and 10,000 it times 2,000 log lines
and prints the microseconds per line and how many secrets are registered, for:

- now: a call's secrets are released when it ends (`CallInfo.release_secrets`);
- before: nothing was released and every line sorted the whole registry (the old
  redactor, re-enacted here for the comparison; timed on 200 lines; no other lines).

    .venv/bin/python benchmarks/redact.py [--calls 10000]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

from bridge import redact
from bridge.service.logsetup import TerminalFormatter
from bridge.vapi.callinfo import CallInfo

CHECKPOINTS = (1, 10, 100, 1_000, 10_000)


def body(call_id: str) -> dict[str, object]:
    host = "phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai"
    return {"id": call_id, "transport": {"websocketCallUrl": f"wss://{host}/{call_id}/transport"},
            "monitor": {"listenUrl": f"wss://{host}/{call_id}/listen",
                        "controlUrl": f"https://{host}/{call_id}/control"}}


def make_logger() -> tuple[logging.Logger, Callable[[], None]]:
    sink = open(os.devnull, "w")  # noqa: SIM115 - closed by the returned function
    handler = logging.StreamHandler(sink)
    handler.addFilter(redact.RedactingFilter())
    handler.setFormatter(TerminalFormatter(colour=False))
    log = logging.getLogger("bench.redact")
    log.propagate = False
    log.handlers = [handler]
    log.setLevel(logging.INFO)
    return log, sink.close


def lines(log: logging.Logger, call_id: str, n: int) -> None:
    short = call_id[-8:]
    for i in range(n):
        match i % 4:
            case 0:
                log.info("call %s: in-progress", short)
            case 1:
                log.info("recording to /var/lib/vapi-bridge/frontdesk-%s.wav", call_id)
            case 2:
                log.info("call %s: visitor interrupted the assistant (user-interrupted) after "
                         "%.1f s of its reply; dropped %.0f ms still queued", short, 1.5, 80.0)
            case _:
                log.warning("call %s: cannot open the call socket (ConnectionRefusedError); "
                            "attempt %d of 3", short, 1)


class OldRegistry:
    """What the redactor did before, re-enacted for the comparison: nothing was ever
    released, and every line sorted the whole registry."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}

    def register_call(self, info: CallInfo) -> None:
        for url, label in ((info.websocket_url, "call socket URL"),
                           (info.listen_url, "listen URL"), (info.control_url, "control URL")):
            for part in (url, urlsplit(url).path) if url else ():
                self.secrets[part] = f"<{label}>"

    def mask(self, text: str) -> str:
        for secret, shown in sorted(self.secrets.items(), key=lambda kv: -len(kv[0])):
            if secret in text:
                text = text.replace(secret, shown)
        return text


def timed(log: logging.Logger, call_id: str, count: int) -> float:
    """Median µs per line over 9 rounds of count/9 lines (a loaded machine: the median)."""
    samples = []
    for _ in range(9):
        t0 = time.perf_counter()
        lines(log, call_id, count // 9)
        samples.append((time.perf_counter() - t0) / (count // 9))
    return statistics.median(samples) * 1e6


def run_now(calls: int) -> list[tuple[int, float, int]]:
    log, close = make_logger()
    base = redact.registered()
    rows: list[tuple[int, float, int]] = []
    try:
        for n in range(1, calls + 1):
            call_id = str(uuid.uuid4())
            info = CallInfo.from_body(body(call_id))
            if n in CHECKPOINTS:
                rows.append((n, timed(log, call_id, 2000), redact.registered() - base))
            else:
                lines(log, call_id, 4)
            info.release_secrets()
    finally:
        close()
    return rows


def run_before(calls: int) -> list[tuple[int, float, int]]:
    old = OldRegistry()
    original = redact.mask
    redact.mask = old.mask  # type: ignore[assignment]
    log, close = make_logger()
    rows: list[tuple[int, float, int]] = []
    try:
        for n in range(1, calls + 1):
            call_id = str(uuid.uuid4())
            info = CallInfo.from_body(body(call_id))
            old.register_call(info)
            info.release_secrets()  # out of the real registry: `old` holds them
            if n in CHECKPOINTS:
                rows.append((n, timed(log, call_id, 200), len(old.secrets)))
    finally:
        redact.mask = original  # type: ignore[assignment]
        close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    args = parser.parse_args()
    run_now(100)  # warm up (imports, caches, the CPU's clock)
    now = run_now(args.calls)
    before = run_before(args.calls)
    print(f"masking one log line, {args.calls} calls (µs per line; secrets registered)")
    print(f"{'call':>7}  {'now':>9} {'':>8}  {'before':>10} {'':>8}")
    for (n, us, size), (_, old_us, old_size) in zip(now, before, strict=True):
        print(f"{n:>7}  {us:7.1f} µs {size:>5}    {old_us:8.1f} µs {old_size:>6}")


if __name__ == "__main__":
    main()
