"""`vapi-bridge check`: is this kiosk ready? A checklist with the fix for each ✗.

Profile valid (its warnings shown with !, not failing; so is what the call would send Vapi
that Vapi's published schema refuses with 400: a key it lacks, with the one likely meant,
a value of the wrong type); the extras it needs installed (`audio.echo: aec` needs
livekit, unless a file:/null device turns echo control off; `http.listen` aiohttp and
prometheus-client and its token;
`service.on_event` a program that runs); the recording directory and the control socket's
directory writable; API host resolves and, for https, TLS verifies (or, behind a proxy the
environment names, is reached through it); API key present (always listed) and accepted (a
harmless authenticated request); `assistant.id` found (`GET /assistant/{id}`); the
spending guard's day so far (a limit already reached fails, as `run` would place no call);
input and output devices found and opened (`--beep` plays a short tone and records a
second, showing the input level).
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bridge.audio.base import AudioSink, AudioSource, level_dbfs, show_dbfs
from bridge.audio.claim import held
from bridge.call.backends import describe, open_sink, open_source
from bridge.call.destination import expand_path, record_fix, unwritable
from bridge.call.wiring import close_audio, record_template, start_audio
from bridge.cli.check_api import (
    key_accepted,
    key_present,
    network,
    placeholder,
    public_key_present,
)
from bridge.cli.check_item import Item, line
from bridge.cli.check_kiosk import kiosk_items
from bridge.cli.check_schema import schema_items
from bridge.control.paths import client_candidates, prepare_directory, socket_path
from bridge.control.peers import ctl_command, probe
from bridge.errors import BridgeError, ExitCode
from bridge.events import EventBus
from bridge.extras import install_command
from bridge.inert import printable
from bridge.profile import Profile, load_profile
from bridge.profile.fields import file_path
from bridge.profile.statedir import save_fix
from bridge.service import day_totals
from bridge.service.day_store import room
from bridge.service.logsetup import colour_wanted
from bridge.service.spending import SPENDING_EXIT, SpendingGuard, dollars, limited
from bridge.words import plural


def _extras(profile: Profile) -> list[Item]:
    """The optional packages this profile needs, imported as `run` will import them."""
    if profile.audio.echo != "aec":
        return []
    what = "echo cancellation (audio.echo: aec) available"
    devices = (profile.audio.input, profile.audio.output)
    if any(spec == "null" or file_path(spec) is not None for spec in devices):
        return [Item(True, what, "not needed: with a file: or null device echo control is "
                     "off, as `run` has it", warn=True)]
    from bridge.audio.aec import WebRtcAec

    try:
        WebRtcAec(16000)
    except BridgeError as exc:
        return [Item(False, what, str(exc), exc.exit_code)]
    except (ImportError, OSError) as exc:  # installed but broken (a missing native library)
        return [Item(False, what, f"livekit does not load ({exc.__class__.__name__}: {exc}) "
                     f"— reinstall it: {install_command('aec')} --force-reinstall, or "
                     f"use audio.echo: gate", ExitCode.PROFILE)]
    return [Item(True, what, "livekit")]


async def _running(profile: Profile) -> tuple[list[Item], dict[str, Any]]:
    """A daemon already serving this profile, its control socket looked for where `ctl`
    looks: the system unit's is in /run/vapi-bridge, which a `run` from a shell (no
    $RUNTIME_DIRECTORY) would not bind, nor be refused by; and its status ({} when it
    does not say: another user's)."""
    for path in client_candidates(profile):
        if (peer := await probe(path)) is not None:
            break
    else:
        return [], {}
    status = peer.status
    if (them := status.get("profile")) not in (None, profile.name):  # another kiosk's
        return [Item(False, "control socket", f"{path} is the one the daemon of profile "
                     f"'{printable(them, 64)}' answers on: `run` would stop at once — give "
                     f"this profile ({profile.name}) a service.control_socket of its own, or "
                     f"leave it unset (the default socket is named after the profile)",
                     ExitCode.PROFILE)], {}
    ctl = ctl_command(status)  # as the daemon's user when it refuses this one (root too)
    return [Item(True, "daemon", f"one is running with this profile now (its control socket "
                 f"{path} answers): `run` is refused while it runs; `{ctl} --socket "
                 f"{shlex.quote(str(path))} status` shows it", warn=True)], status


def _paths(profile: Profile) -> list[Item]:
    items: list[Item] = []
    template = record_template(profile)
    if template:
        stem = expand_path(template, call_id="CALLID", profile=profile.name,
                           started=datetime.now(UTC))
        what = f"recordings can be written in {stem.parent}"
        problem = unwritable(stem.parent)
        fix = record_fix(stem.parent) if problem else ""  # (a read-only mount: the unit's)
        if fix.startswith("fix record.path"):
            fix = "change record.path, or make that a directory this user can write"
        items.append(Item(True, what) if problem is None else Item(
            False, what, f"{problem} — {fix}", ExitCode.PROFILE))
    path = socket_path(profile)
    what = f"control socket directory {path.parent} is usable"
    try:
        prepare_directory(path)  # what `run` does first: create it 0700, refuse a foreign one
    except BridgeError as exc:
        return [*items, Item(False, what, str(exc), exc.exit_code)]
    problem = unwritable(path.parent)
    items.append(Item(True, what) if problem is None else Item(
        False, what, f"{problem} — set service.control_socket to a path you can write",
        ExitCode.PROFILE))
    return items


def _spending(profile: Profile) -> list[Item]:
    """The spending guard's day so far, read as `run` reads it before each call: a ✗ when
    today's calls already reach a limit (`run` would place none)."""
    c = profile.call
    guard = SpendingGuard(lambda: profile, EventBus())
    what = "spending guard allows a call"
    if not limited(profile):  # the totals are kept all the same: an unreadable file is said
        try:
            day_totals.load(guard.path, guard.store.today())
        except day_totals.Unreadable as bad:
            return [Item(True, "spending totals readable", f"{bad.path} cannot be read "
                         f"({bad.why}): run counts today from zero, no limit being set, and "
                         f"keeps the file renamed — {bad.fix}", warn=True)]
        return []
    if (exc := room(guard.path)) is not None:  # `run` would refuse every call (spending.py)
        return [Item(False, what, f"spending limit unknown: today's totals cannot be saved to "
                     f"{guard.path} ({exc.strerror or exc}): run places no call — "
                     f"{save_fix(guard.path, exc)}", SPENDING_EXIT)]
    refusal = guard.refusal()
    if refusal is not None:
        return [Item(False, what, refusal, SPENDING_EXIT)]
    t = guard.totals()
    used = ([f"{t.minutes:.1f} min of call.max_daily_minutes ({c.max_daily_minutes:g})"]
            if c.max_daily_minutes is not None else []) + \
        ([f"{dollars(t.cost)} of call.max_daily_cost (${c.max_daily_cost:g})"]
         if c.max_daily_cost is not None else [])
    pending = f"; {len(t.open)} not counted yet (up now, cut off with the daemon, or its " \
        f"cost not said by Vapi yet: the daemon asks Vapi)" if t.open else ""
    return [Item(True, what, "used today: " + ", ".join(used) + pending)]


async def _devices(profile: Profile, beep: bool, ours: bool) -> list[Item]:
    items: list[Item] = []
    rate = profile.wire.sample_rate
    out = profile.audio.output
    out_file = file_path(out)
    for kind, opener, spec in (("input", open_source, profile.audio.input),
                               ("output", open_sink, out)):
        what = f"{kind} device {describe(spec)}"
        if kind == "output" and out_file is not None:
            items.append(_output_file(what, out_file, ours))
            continue  # opening it would empty a file a run may have written
        try:
            dev = opener(profile.audio, rate)
            dev.start()
            name = getattr(dev, "name", describe(spec))
            await asyncio.sleep(0.2)
            dev.close()
            items.append(Item(True, f"{what} opens", f"{name} at {dev.sample_rate} Hz"))
        except BridgeError as exc:
            items.append(Item(False, f"{what} opens", str(exc), exc.exit_code))
    if beep and all(i.ok for i in items):
        why = ("audio.input is null: nothing to hear" if profile.audio.input == "null" else
               "audio.output is a file: the beep would overwrite it" if out_file else "")
        items.append(Item(True, "beep and record skipped", why, warn=True) if why
                     else await _beep(profile))
    return items


def _output_file(what: str, path: Path, ours: bool) -> Item:
    """A file output is written when a call runs (its directory exists: the profile
    would not load otherwise): it must be a file there, in a directory this user can
    write, and not one another daemon writes (`run` is refused: bridge.audio.claim),
    unless that is the daemon running this profile."""
    problem = (f"{path} is a directory" if path.is_dir() else
               unwritable(path.parent) or
               (f"{path} is read-only" if path.exists() and not os.access(path, os.W_OK)
                else None))
    if problem:
        return Item(False, f"{what} can be written", f"{problem} — give audio.output a "
                    f"file:PATH in a directory you may write", ExitCode.AUDIO)
    if held(path):
        return (Item(True, f"{what} can be written", f"{path}, written by the daemon "
                     f"running with this profile") if ours else
                Item(False, f"{what} can be written", f"{path} is being written by another "
                     f"process now (a daemon whose profile names the same file?): `run` "
                     f"would be refused, as two writers leave neither a valid WAV — give "
                     f"this profile a file:PATH of its own", ExitCode.PROFILE))
    return Item(True, f"{what} can be written", str(path))


async def _beep(profile: Profile) -> Item:
    source: AudioSource | None = None
    sink: AudioSink | None = None
    try:
        source, sink = start_audio(profile)
        t = np.arange(int(0.3 * sink.sample_rate)) / sink.sample_rate
        sink.capture_frame((np.sin(2 * np.pi * 880 * t) * 8000).astype(np.int16))
        captured = []
        for _ in range(10):
            await asyncio.sleep(0.1)
            captured.append(source.read(source.sample_rate // 10))
    except BridgeError as exc:
        return Item(False, "beep and record", str(exc), exc.exit_code)
    finally:
        close_audio(source, sink)
    level = level_dbfs(np.concatenate(captured)) if captured else -120.0
    if level < -70:
        return Item(False, "microphone hears something", f"input level {show_dbfs(level)}: "
                    "check the microphone, its mute switch and audio.input", ExitCode.AUDIO)
    return Item(True, "microphone hears something", f"input level {show_dbfs(level)}")


def _report(items: list[Item], as_json: bool, out: Callable[[str], None]) -> int:
    failed = [i for i in items if not i.ok]
    code = int(failed[0].code or ExitCode.FAILURE) if failed else ExitCode.OK
    if as_json:
        out(json.dumps({"ok": not failed, "exit_code": code,
                        "checks": [{"ok": i.ok, "warning": i.warn, "check": i.what,
                                    "detail": i.detail} for i in items]},
                       indent=2, ensure_ascii=False))
        return code
    colour = colour_wanted(sys.stdout)
    for item in items:
        out(line(item, colour))
    warned = sum(i.warn for i in items)
    note = f" ({plural(warned, 'warning')})" if warned else ""
    out(f"{len(items) - len(failed)} passed, {len(failed)} failed{note}" if failed
        else f"ready: all checks passed{note}")
    return code


async def run_check(name: str, overrides: list[str], beep: bool,
                    out: Callable[[str], None] = print, *, as_json: bool = False) -> int:
    try:
        profile = load_profile(name, overrides)
    except BridgeError as exc:
        return _report([Item(False, "profile valid", str(exc), exc.exit_code)], as_json, out)
    items = [Item(True, "profile valid", profile.origin)]
    items += [Item(True, "profile", warning, warn=True) for warning in profile.warnings]
    items += schema_items(profile)  # what Vapi's schema would refuse with 400
    running, theirs = await _running(profile)
    ours = any(item.ok for item in running)  # this profile's daemon runs: its port, its file
    items += _extras(profile) + _paths(profile) + running
    items += await kiosk_items(profile, ours, theirs.get("http"))  # (no fault, unless it
    # says it cannot listen)
    reached = await network(profile)
    present, key = key_present(profile)
    items += [*reached, present, *public_key_present(profile)]
    if key is not None and all(i.ok for i in reached):  # the key is local: always listed
        items += await key_accepted(profile, key)
    items += placeholder(profile) + _spending(profile)
    items += await _devices(profile, beep, ours)
    return _report(items, as_json, out)


