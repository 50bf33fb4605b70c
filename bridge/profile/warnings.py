"""A profile's warnings: what loads, but is deprecated, unusual, or will not do what it
seems to (the daemon logs them at start and at each reload; `check` shows them)."""

from __future__ import annotations

from typing import Any

from bridge.profile.audiofiles import output_warning
from bridge.profile.model import DEPRECATED
from bridge.profile.yamlnodes import OVERRIDDEN, Lines
from bridge.vapi.interruptions import INTERRUPTED

NAME_KEPT = 30  # of call.name (bridge.vapi.created.marked_name)


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
    return tuple(found)
