"""`vapi-bridge check`: is this kiosk ready? A checklist with the fix for each ✗.

Profile valid (its warnings shown with !, not failing); the extras it needs installed
(`audio.echo: aec` needs livekit; `http.listen` aiohttp and prometheus-client and its token;
`service.on_event` a program that runs); the recording directory and the control socket's
directory writable; API host resolves and, for https, TLS verifies; API key present and
accepted (a harmless authenticated request); `assistant.id` found (`GET /assistant/{id}`);
input and output devices found and opened (`--beep` plays a short tone and records a
second, showing the input level).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from bridge.audio.base import AudioSink, AudioSource, level_dbfs, show_dbfs
from bridge.call.backends import describe, open_sink, open_source
from bridge.call.destination import expand_path, unwritable
from bridge.call.wiring import close_audio, record_template, start_audio
from bridge.cli.check_kiosk import kiosk_items
from bridge.control.paths import prepare_directory, socket_path
from bridge.control.server import is_live
from bridge.errors import ApiRequestError, BridgeError, ExitCode
from bridge.extras import install_command
from bridge.profile import Profile, api_key, load_profile
from bridge.profile.fields import file_path
from bridge.redact import scrub_urls
from bridge.service.logsetup import colour_wanted
from bridge.vapi.api import VapiApi, is_loopback
from bridge.vapi.interruptions import INTERRUPTED
from bridge.words import plural

PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"  # config/frontdesk.yaml's


@dataclass
class Item:
    ok: bool
    what: str
    detail: str = ""
    code: int = ExitCode.OK
    warn: bool = False  # passed, but worth a look: shown with !


def _line(item: Item, colour: bool) -> str:
    mark, hue = ("!", 33) if item.warn else ("✓", 32) if item.ok else ("✗", 31)
    if colour:
        mark = f"\033[{hue}m{mark}\033[0m"
    return f" {mark} {item.what}" + (f" — {item.detail}" if item.detail else "")


def _extras(profile: Profile) -> list[Item]:
    """The optional packages this profile needs, imported as `run` will import them."""
    if profile.audio.echo != "aec":
        return []
    from bridge.audio.aec import WebRtcAec

    what = "echo cancellation (audio.echo: aec) available"
    try:
        WebRtcAec(16000)
    except BridgeError as exc:
        return [Item(False, what, str(exc), exc.exit_code)]
    except (ImportError, OSError) as exc:  # installed but broken (a missing native library)
        return [Item(False, what, f"livekit does not load ({exc.__class__.__name__}: {exc}) "
                     f"— reinstall it: {install_command('aec')} --force-reinstall, or "
                     f"use audio.echo: gate", ExitCode.PROFILE)]
    return [Item(True, what, "livekit")]


async def _running(profile: Profile) -> list[Item]:
    """A daemon already serving this profile's control socket: `run` would be refused."""
    path = socket_path(profile)
    if not await is_live(path):
        return []
    return [Item(True, "daemon", f"one is running with this profile now (its control socket "
                 f"{path} answers): `run` is refused while it runs; `vapi-bridge ctl "
                 f"--socket {path} status` shows it", warn=True)]


def _paths(profile: Profile) -> list[Item]:
    items: list[Item] = []
    template = record_template(profile)
    if template:
        stem = expand_path(template, call_id="CALLID", profile=profile.name,
                           started=datetime.now(UTC))
        what = f"recordings can be written in {stem.parent}"
        problem = unwritable(stem.parent)
        items.append(Item(True, what) if problem is None else Item(
            False, what, f"{problem} — change record.path, or make that a directory this "
            f"user can write", ExitCode.PROFILE))
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


async def _network(profile: Profile) -> list[Item]:
    url = urlsplit(profile.api.base_url)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    items: list[Item] = []
    try:
        await asyncio.get_running_loop().getaddrinfo(host, port)
        items.append(Item(True, f"API host {host} resolves"))
    except OSError as exc:
        items.append(Item(False, f"API host {host} resolves", f"{exc.strerror or exc}; check "
                          f"DNS and the network, or api.base_url", ExitCode.NETWORK))
        return items
    if url.scheme == "https":
        try:
            ctx = ssl.create_default_context()
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=ctx, server_hostname=host), 10)
            writer.close()
            items.append(Item(True, f"TLS to {host} verifies"))
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            items.append(Item(False, f"TLS to {host} verifies", f"{exc}; check the clock, "
                              f"a proxy, or ca-certificates", ExitCode.NETWORK))
    elif not is_loopback(profile.api.base_url):
        items.append(Item(True, f"plain {url.scheme}:// to {host} (api.allow_plaintext)"))
    return items


async def _key(profile: Profile) -> list[Item]:
    try:
        key = api_key(profile)
    except BridgeError as exc:
        return [Item(False, "API key present", str(exc), exc.exit_code)]
    items = [Item(True, "API key present")]
    try:  # the URL's scheme was checked with the profile
        api = VapiApi(profile.api.base_url, key, timeout=min(profile.api.timeout_seconds, 10),
                      allow_plaintext=profile.api.allow_plaintext)
    except BridgeError as exc:
        return [*items, Item(False, "API key accepted", str(exc), exc.exit_code)]
    try:
        await api.check_key()
        items.append(Item(True, "API key accepted"))
        if profile.assistant.id:
            items += await _assistant(api, profile)
    except BridgeError as exc:
        items.append(Item(False, "API key accepted", scrub_urls(str(exc)), exc.exit_code))
    finally:
        await api.aclose()
    return items


async def _assistant(api: VapiApi, profile: Profile) -> list[Item]:
    assistant_id = str(profile.assistant.id)
    what = f"assistant {assistant_id!a} found"
    try:
        found = await api.get_assistant(assistant_id)
    except ApiRequestError:
        fix = (f"assistant.id in {profile.origin} is still the example's placeholder"
               if assistant_id == PLACEHOLDER_ID else
               "Vapi has no assistant with this id for this API key")
        return [Item(False, what, f"{fix} — copy the assistant's id from the Vapi dashboard "
                     f"(Assistants), or use assistant.inline", ExitCode.PROFILE)]
    except BridgeError as exc:
        return [Item(False, what, scrub_urls(str(exc)), exc.exit_code)]
    name = found.get("name")
    items = [Item(True, what, f"{name[:60]!a}" if isinstance(name, str) and name else "")]
    listed = found.get("clientMessages")
    if isinstance(listed, list) and INTERRUPTED not in listed and \
            "clientMessages" not in (profile.assistant.overrides or {}):
        items.append(Item(True, "assistant", f"its clientMessages (in the Vapi dashboard) "
                          f"leave out {INTERRUPTED}, which the bridge waits for to stop the "
                          f"speaker when the visitor interrupts — add it there, or list "
                          f"clientMessages in assistant.overrides", warn=True))
    return items


async def _devices(profile: Profile, beep: bool) -> list[Item]:
    items: list[Item] = []
    rate = profile.wire.sample_rate
    out = profile.audio.output
    out_file = file_path(out)
    for kind, opener, spec in (("input", open_source, profile.audio.input),
                               ("output", open_sink, out)):
        what = f"{kind} device {describe(spec)}"
        if kind == "output" and out_file is not None:
            items.append(_output_file(what, out_file))
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


def _output_file(what: str, path: Path) -> Item:
    """A file output is written when a call runs (its directories made, as for a
    recording): it must be a file there, in a directory this user can write."""
    problem = (f"{path} is a directory" if path.is_dir() else
               unwritable(path.parent) or
               (f"{path} is read-only" if path.exists() and not os.access(path, os.W_OK)
                else None))
    if problem:
        return Item(False, f"{what} can be written", f"{problem} — give audio.output a "
                    f"file:PATH in a directory you may write", ExitCode.AUDIO)
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
        out(_line(item, colour))
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
    items += _extras(profile) + _paths(profile) + await _running(profile)
    items += [Item(ok, what, detail, code)
              for ok, what, detail, code in await kiosk_items(profile)]
    network = await _network(profile)
    items += network
    if all(i.ok for i in network):
        items += await _key(profile)
    items += await _devices(profile, beep)
    return _report(items, as_json, out)


