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
from bridge.inert import inert, printable
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
SHOWN = 5  # the validator's lines said one by one (Vapi lists up to 20); the rest counted
LINE_CHARS = 200  # each line's share of the one line: bounded, some 1.9 kB in all
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


def worded(profile: Profile, line: str) -> tuple[str, str, bool]:
    """One line of Vapi's validator in the profile's keys; the profile key it names ("" where
    it names none: the line is kept as Vapi said it); and whether it is a key Vapi lacks."""
    if (unknown := UNKNOWN.fullmatch(line)) is not None:
        where = unknown["where"]
        if not where:
            return f"the call's {unknown['key']} is no key Vapi takes", "", True
        key = f"{profile_key(profile, where)}.{unknown['key']}"
        return f"{key} is no key Vapi takes", key, True
    if (each := EACH.fullmatch(line)) is not None:
        key = profile_key(profile, f"{each['where']}.{each['field']}")
        return f"each value in {key} {each['rest']}", key, False
    first, _, rest = line.partition(" ")
    key = ""
    if first in FIELDS or first.partition(".")[0] in PARTS:
        key = profile_key(profile, first)
        line = f"{key} {rest}"
    elif (nested := NESTED.search(line)) is not None:
        key = profile_key(profile, nested[0])
    return NESTED.sub(lambda m: profile_key(profile, m[0]), line), key, False


def place(profile: Profile, key: str) -> str:
    """Where `key` was written: the `--set` that gave it or a section holding it (the
    longest such key: `--set assistant.overrides.clientMessages=…` as well as
    `--set assistant.overrides={…}`), or the profile's file."""
    parts = key.split(".")
    given = next((k for n in range(len(parts), 0, -1)
                  if (k := ".".join(parts[:n])) in profile.overridden), None)
    return f"the --set that gave {given}" if given else inert(profile.origin, 200)


def in_profile_keys(profile: Profile, refused: BodyRefused) -> ApiRequestError:
    """The refusal said in the profile's keys, and where to fix them (the profile, or the
    `--set` that gave their section: each key's own when they differ); the first `SHOWN`
    lines, the rest counted; as it was when Vapi listed nothing."""
    if not refused.said:
        return refused
    said = [worded(profile, line) for line in refused.said]
    shown = "; ".join(printable(w, LINE_CHARS) for w, _, _ in said[:SHOWN])
    if len(said) > SHOWN:
        shown += f"; and {len(said) - SHOWN} more"
    places: dict[str, list[str]] = {}
    for _, key, _ in said:  # in Vapi's order; a line naming no key names no place
        if key:
            places.setdefault(place(profile, key), []).append(key)
    them = "it" if len(said) == 1 else "them"
    where = next(iter(places), inert(profile.origin, 200)) if len(places) < 2 else \
        " and in ".join(f"{p} ({_listed(keys)})" for p, keys in places.items())
    fix = f"correct or remove {them} in {where} {FIX}" if any(u for _, _, u in said) else \
        f"fix {them} in {where} {FIX_OTHER}"
    return ApiRequestError(f"Vapi refused {refused.what} (400 Bad Request): {shown} — {fix}")


def _listed(keys: list[str]) -> str:
    named = list(dict.fromkeys(printable(k, 80) for k in keys))
    more = f", and {len(named) - SHOWN} more" if len(named) > SHOWN else ""
    return ", ".join(named[:SHOWN]) + more
