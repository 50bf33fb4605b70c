"""A profile's warnings: what loads, but is deprecated, unusual, or will not do what it
seems to (the daemon logs them at start and at each reload; `check` shows them)."""

from __future__ import annotations

from typing import Any

from bridge.profile.audiofiles import output_warning
from bridge.profile.model import DEPRECATED, MONITOR_AUTH
from bridge.profile.yamlnodes import OVERRIDDEN, Lines
from bridge.vapi.interruptions import INTERRUPTED

NAME_KEPT = 30  # of call.name (bridge.vapi.created.marked_name)
# what a monitorPlan key turned off leaves open (MONITOR_AUTH's order)
LEFT_OPEN = ("the call's live audio (monitor.listenUrl) is not protected: anyone holding its "
             "URL hears the visitor, with no key",
             "the call's controlUrl is not protected: anyone holding its URL can steer the "
             "call, with no key")


def profile_warnings(data: dict[str, Any], built: dict[str, dict[str, Any]], lines: Lines
                     ) -> tuple[str, ...]:
    """What a valid profile still gets wrong, one line each (`data`: as written; `built`:
    as parsed; `lines`: where each key came from)."""
    found = [message for path, message in DEPRECATED.items()
             if path.split(".")[1] in (data.get(path.split(".")[0]) or {})]
    wire = built["wire"]
    if wire["format"] == "mulaw" and wire["sample_rate"] != 8000:
        found.append(f"wire.sample_rate: µ-law (G.711) is 8000 Hz on telephone lines and "
                     f"Vapi; {wire['sample_rate']} Hz µ-law is unusual — set "
                     f"wire.sample_rate: 8000, or use pcm_s16le for wideband")
    for part in ("inline", "overrides"):
        listed = (built["assistant"][part] or {}).get("clientMessages")
        given = lines.get(f"assistant.{part}.clientMessages", lines.get(f"assistant.{part}"))
        if isinstance(listed, list) and not {INTERRUPTED, "speech-update"} & {
                m for m in listed if isinstance(m, str)}:
            found.append(f"assistant.{part}.clientMessages"
                         f"{' (from --set)' if given == OVERRIDDEN else ''} leaves out both "
                         f"{INTERRUPTED} and "
                         f"speech-update: the speaker cannot stop when the visitor "
                         f"interrupts — add {INTERRUPTED}")
    name = built["call"]["name"]
    if name and len(name) > NAME_KEPT:
        found.append(f"call.name: {len(name)} characters; the first {NAME_KEPT} are kept "
                     f"(Vapi keeps 40, and each attempt's marker \" #<8 hex>\" takes 10)")
    mode = built["service"]["mode"]
    if built["trigger"]["wake_word"] and mode != "standby":
        found.append(f"trigger.wake_word is listened for in standby mode only; ignored in "
                     f"{mode} mode — set service.mode: standby")
    if (named := output_warning(built["audio"])) is not None:
        found.append(named)
    return tuple(found + monitor_warnings(built))


def monitor_warnings(built: dict[str, dict[str, Any]]) -> list[str]:
    """Where the profile's monitorPlan and `call.control_auth` disagree: authentication
    turned off that control_auth asks for (the overrides are sent as written, and win), or
    turned on where the bridge sends no public key."""
    written: dict[str, tuple[str, Any]] = {}  # key -> (where, value); overrides win
    for part in ("inline", "overrides"):
        plan = (built["assistant"][part] or {}).get("monitorPlan")
        if isinstance(plan, dict):
            written |= {k: (f"assistant.{part}.monitorPlan.{k}", plan[k])
                        for k in MONITOR_AUTH if k in plan}
    asked = built["call"]["control_auth"]
    found = []
    for k, left_open in zip(MONITOR_AUTH, LEFT_OPEN, strict=True):
        where, value = written.get(k, ("", None))
        if asked and value is False and where.startswith("assistant.overrides"):
            found.append(f"{where}: false, with call.control_auth on: {left_open} — remove "
                         f"it (the bridge then asks Vapi to require the PUBLIC key)")
        elif not asked and value is True:
            refused = ("`vapi-bridge listen` is refused (401) unless given --auth"
                       if k.startswith("listen") else "its controlUrl commands are refused (401)")
            found.append(f"{where} is on but call.control_auth is off: the bridge sends no "
                         f"PUBLIC key, so {refused} — set call.control_auth: true")
    return found
