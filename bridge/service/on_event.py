"""`service.on_event`: a command run for each kiosk event (`bridge.events`), as
wyoming-satellite runs its event commands — for LEDs, a screen, a log of visits.

The event is in the command's environment: `VAPI_BRIDGE_EVENT` (its kind, e.g. `in-call`),
`VAPI_BRIDGE_SEQ`, `VAPI_BRIDGE_AT`, one `VAPI_BRIDGE_<FIELD>` per field (`who`, `cause`,
`reason`, … upper-cased, `-` as `_`; true/false for booleans, empty for null), and the
whole event as one JSON line in `VAPI_BRIDGE_EVENT_JSON`; also `VAPI_BRIDGE_PROFILE`, and
`VAPI_BRIDGE_CMD`, the command that runs this vapi-bridge (`$VAPI_BRIDGE_CMD ctl …`). The
API keys' variables and systemd's notify socket are taken out of it. Partial transcripts
are not sent (finals are).

Runs are off the audio path (an asyncio subprocess; the loop never waits on one), one at a
time and in order. A backlog of `BACKLOG` events waits behind a slow command; beyond that
the oldest are dropped and the count logged. A run past `on_event_timeout_seconds` is
killed (its whole process group); a failed run is logged with the end of its stderr
(inert). Nothing a command does stops the daemon. A command that is missing or not
executable when the daemon starts is a profile error (exit 2); after a reload it is
logged and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

from bridge import events
from bridge.errors import ProfileError
from bridge.events import EventBus, KioskEvent, Subscription
from bridge.inert import inert
from bridge.profile import Profile

log = logging.getLogger("bridge.on_event")

BACKLOG = 32  # events waiting behind a slow command
STDERR_TAIL = 600  # characters of a failed run's stderr in the log
STDERR_GRACE_S = 0.2  # after it exits, for the rest of what it wrote to stderr
PREFIX = "VAPI_BRIDGE_"
HIDDEN = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
          "LISTEN_FDNAMES")


def command_line(profile: Profile) -> list[str] | None:
    """`service.on_event` as an argv with its program found, or None when unset. Raises
    `ProfileError` (exit 2), naming the key and the fix, when it cannot be run."""
    spec = profile.service.on_event
    if not spec or not spec.strip():
        return None
    where = profile.where("service.on_event")
    try:
        argv = shlex.split(spec)
    except ValueError as exc:
        raise ProfileError(f"{where}: {exc} — quote it as a shell would") from None
    program = argv[0]
    if "/" in program or program.startswith("~"):
        path = Path(program).expanduser()
        path = path if path.is_absolute() else profile.directory / path
        if not path.is_file():
            raise ProfileError(f"{where}: no such file {path} — give the script's path (a "
                               f"relative one is relative to the profile's directory)")
        if not os.access(path, os.X_OK):
            raise ProfileError(f"{where}: {path} is not executable — run: chmod +x {path}")
        argv[0] = str(path)
    else:
        found = shutil.which(program)
        if found is None:
            beside = (profile.directory / program).is_file()
            raise ProfileError(f"{where}: no program {program!r} on PATH — " + (
                f"write ./{program} for the one beside the profile" if beside
                else "give its full path"))
        argv[0] = found
    return argv


def event_env(event: KioskEvent, base: dict[str, str]) -> dict[str, str]:
    """`base` with the event in `VAPI_BRIDGE_*` variables."""
    env = dict(base)
    for name, value in event.as_dict().items():
        text = ("true" if value else "false") if isinstance(value, bool) else \
            "" if value is None else str(value)
        env[PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper())] = text
    env[PREFIX + "EVENT_JSON"] = event.json()
    return env


def base_env(profile: Profile) -> dict[str, str]:
    hidden = {*HIDDEN, profile.api.key_env, profile.api.public_key_env}
    env = {k: v for k, v in os.environ.items()
           if k not in hidden and not k.startswith(PREFIX)}
    env[PREFIX + "PROFILE"] = profile.name
    # the command that runs this same vapi-bridge, for a script's `ctl` (a venv's program is
    # seldom on the service's PATH: `$VAPI_BRIDGE_CMD ctl ...`); one the daemon was given
    env[PREFIX + "CMD"] = os.environ.get(PREFIX + "CMD") or (
        shlex.join([sys.executable, "-m", "bridge"]) if sys.executable else "vapi-bridge")
    return env


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: children go too


async def _reader(fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    """A stream reading the pipe end `fd` (closed with the transport)."""
    reader = asyncio.StreamReader()
    pipe, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0))
    return reader, pipe


async def _stderr_tail(stream: asyncio.StreamReader | None, tail: bytearray) -> None:
    """Keep the end of what `stream` says in `tail`, until it ends (or is cancelled)."""
    while stream is not None and (chunk := await stream.read(4096)):
        tail += chunk
        del tail[:-4 * STDERR_TAIL]


class EventCommand:
    """Runs the profile's `on_event` for the events of a subscription, one at a time."""

    def __init__(self, current: Callable[[], Profile]) -> None:
        self.current = current  # the profile in force (a reload may change it)
        self.runs = 0
        self.failures = 0
        self.busy = False  # a run in progress
        self._checked: tuple[str | None, Path] | None = None
        self._argv: list[str] | None = None

    def argv(self) -> list[str] | None:
        """The command for the profile in force (checked again when it changed)."""
        profile = self.current()
        spec = (profile.service.on_event, profile.directory)
        if spec != self._checked:
            self._checked = spec
            try:
                self._argv = command_line(profile)
            except ProfileError as exc:
                log.error("%s (events are not sent to it)", exc)
                self._argv = None
        return self._argv

    async def serve(self, sub: Subscription) -> None:
        async for event in sub:
            if event.kind == events.LOST:
                log.warning("service.on_event: %s dropped: the command is slower than the "
                            "events (it runs one at a time)",
                            _count(event.fields.get("count")))
                continue
            argv = self.argv()
            if argv is not None:
                self.busy = True
                try:
                    await self.run(argv, event)
                finally:
                    self.busy = False

    async def run(self, argv: list[str], event: KioskEvent) -> int | None:
        """One run for `event`: its exit code, or None (not started, killed)."""
        profile = self.current()
        timeout = profile.service.on_event_timeout_seconds
        name = Path(argv[0]).name
        self.runs += 1
        # stderr is a pipe of our own, not asyncio's: `Process.wait` waits for its pipes to
        # close, and a job the script leaves running (`gpioset … &`) holds them open
        read_end, write_end = os.pipe()
        try:
            stderr, pipe = await _reader(read_end)  # the transport owns read_end from here
        except BaseException:
            os.close(read_end)
            os.close(write_end)
            raise
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=write_end, env=event_env(event, base_env(profile)),
                start_new_session=True)
        except BaseException as exc:
            pipe.close()
            if not isinstance(exc, OSError):
                raise
            self.failures += 1
            log.error("service.on_event: cannot run %s: %s", inert(argv[0]),
                      exc.strerror or exc)
            return None
        finally:
            os.close(write_end)
        tail = bytearray()
        reading = asyncio.ensure_future(_stderr_tail(stderr, tail))
        try:
            async with asyncio.timeout(timeout):
                code = await proc.wait()
            # what it said as it exited; the job it left running is not waited for, nor
            # killed with the group (it is the point of `&`)
            await asyncio.wait({reading}, timeout=STDERR_GRACE_S)
        except TimeoutError:
            self.failures += 1
            log.warning("service.on_event: %s ran over %.1f s on %s (event %d): killed",
                        name, timeout, event.kind, event.seq)
            return None
        finally:
            reading.cancel()
            pipe.close()  # a job still writing to it gets SIGPIPE, as with `| head`
            if proc.returncode is None:
                _kill(proc)
                await proc.wait()
        if code != 0:
            self.failures += 1
            said = inert(bytes(tail).decode("utf-8", "replace").strip()[-STDERR_TAIL:])
            log.warning("service.on_event: %s exited with %d on %s (event %d)%s", name, code,
                        event.kind, event.seq, f": {said}" if said else "")
        return code


def _count(value: object) -> str:
    n = value if isinstance(value, int) else 0
    return f"{n} event{'s' if n != 1 else ''}"


class Source(Protocol):
    """What publishes the events (the daemon): its bus and the profile in force."""

    @property
    def events(self) -> EventBus: ...

    @property
    def profile(self) -> Profile: ...


@contextlib.asynccontextmanager
async def running(source: Source) -> AsyncIterator[EventCommand]:
    """Run `service.on_event` for the block's events (a command that cannot be run raises
    `ProfileError` first); at the block's end, what is still waiting runs for up to
    `on_event_timeout_seconds` more, then the rest is dropped."""
    command_line(source.profile)
    runner = EventCommand(lambda: source.profile)
    with source.events.subscribe(BACKLOG, replay_state=False, keep=events.final_only) as sub:
        task = asyncio.create_task(runner.serve(sub))
        try:
            yield runner
        finally:
            await _finish(runner, task, sub, source.profile.service.on_event_timeout_seconds)


async def _finish(runner: EventCommand, task: asyncio.Task[None], sub: Subscription,
                  grace: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while (sub.pending or runner.busy) and not task.done() and loop.time() < deadline:
        await asyncio.sleep(0.02)
    left = sub.pending
    task.cancel()  # kills a run still going
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if left:
        log.warning("service.on_event: %s not sent: the daemon stopped", _count(left))
