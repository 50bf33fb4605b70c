"""Vapi's 400 to the POST /call body said in the profile's keys, the ones the user wrote.

Vapi's validator names the body's fields (`assistantOverrides.property silenceTimeout should
not exist`); the body is the profile's (`Profile.create_body`), so each field it names is a
profile key: `assistant.overrides.silenceTimeout`, `call.max_duration_seconds` for the
`maxDurationSeconds` the profile's call section set, `wire.sample_rate` for the transport's
rate. A key Vapi lacks is said as one (`... is no key Vapi takes`); its likely meaning,
and every other key Vapi's schema lacks (Vapi's validator may name the deeper ones only
once the upper ones are fixed), are `vapi-bridge check`'s to say: it holds the schema.
A line that names no field of the body is kept as Vapi said it.
"""

from __future__ import annotations

import re

from bridge.errors import ApiRequestError, BodyRefused
from bridge.inert import inert
from bridge.profile.model import MONITOR_AUTH, Profile

# the body's fields the profile writes whole, and the profile keys that write them
FIELDS = {"assistantId": "assistant.id", "name": "call.name",
          "transport.audioFormat.format": "wire.format",
          "transport.audioFormat.sampleRate": "wire.sample_rate"}
PARTS = {"assistantOverrides": "assistant.overrides", "assistant": "assistant.inline"}
UNKNOWN = re.compile(r"(?:(?P<where>\S+)\.)?property (?P<key>.+) should not exist")
EACH = re.compile(r"(?P<where>\S+)\.each value in (?P<field>\S+) (?P<rest>.*)")
# a path in parentheses: "… matches none of its 2 allowed shapes (assistant.voice.x …)"
NESTED = re.compile(r"(?<=\()(?:assistantOverrides|assistant)(?:\.[\w$-]+|\[\d+\])+")
FIX = "(`vapi-bridge check` names the key meant, and each key Vapi's schema lacks at once)"
FIX_OTHER = "(`vapi-bridge check` names each in the profile's keys)"


def profile_key(profile: Profile, path: str) -> str:
    """The profile key that wrote `path` of the body, or `path` where none did."""
    if path in FIELDS:
        return FIELDS[path]
    head, _, rest = path.partition(".")
    if head not in PARTS:
        return path
    if head == "assistantOverrides" and rest == "maxDurationSeconds" and \
            profile.call.max_duration_seconds is not None:
        return "call.max_duration_seconds"
    plan = profile.assistant.overrides.get("monitorPlan")
    if head == "assistantOverrides" and rest.removeprefix("monitorPlan.") in MONITOR_AUTH \
            and profile.call.control_auth and \
            rest.split(".")[-1] not in (plan if isinstance(plan, dict) else {}):
        return "call.control_auth"
    return f"{PARTS[head]}.{rest}" if rest else PARTS[head]


def worded(profile: Profile, line: str) -> tuple[str, bool]:
    """One line of Vapi's validator in the profile's keys, and whether it is a key Vapi
    lacks."""
    if (unknown := UNKNOWN.fullmatch(line)) is not None:
        where = unknown["where"]
        key = f"{profile_key(profile, where)}.{unknown['key']}" if where else \
            f"the call's {unknown['key']}"
        return f"{key} is no key Vapi takes", True
    if (each := EACH.fullmatch(line)) is not None:
        field = profile_key(profile, f"{each['where']}.{each['field']}")
        return f"each value in {field} {each['rest']}", False
    first, _, rest = line.partition(" ")
    if first in FIELDS or first.partition(".")[0] in PARTS:
        line = f"{profile_key(profile, first)} {rest}"
    return NESTED.sub(lambda m: profile_key(profile, m[0]), line), False


def in_profile_keys(profile: Profile, refused: BodyRefused) -> ApiRequestError:
    """The refusal said in the profile's keys, and where to fix them (the profile, or the
    `--set` that gave their section); as it was when Vapi listed nothing."""
    if not refused.said:
        return refused
    said = [worded(profile, line) for line in refused.said]
    keys = [w.split(" ")[0] for w, _ in said]
    section = next((".".join(k.split(".")[:2]) for k in keys
                    if k.split(".")[0] in ("assistant", "call", "wire")), "")
    place = f"the --set that gave {section}" if section in profile.overridden else \
        inert(profile.origin, 200)
    them = "it" if len(said) == 1 else "them"
    lacking = any(unknown for _, unknown in said)
    fix = f"correct or remove {them} in {place} {FIX}" if lacking else \
        f"fix {them} in {place} {FIX_OTHER}"
    return ApiRequestError(f"Vapi refused {refused.what} (400 Bad Request): "
                           f"{'; '.join(w for w, _ in said)} — {fix}")
