"""`check`'s look at the assistant the profile sends Vapi: the POST /call body
(`assistant.id` or `assistant.inline`, `assistant.overrides`, the call's own settings)
against the copy of Vapi's published schema the simulator holds (`bridge/sim`'s
validation, the checks that make it answer 400 as Vapi does). A key the schema lacks (a
typo: `firstMesage`), a value of the wrong type or outside its range, a `clientMessages`
entry that is no message type: each is one warning with the fix, since Vapi refuses the
call with 400 and `run` would learn it only then; every key the schema lacks is named at
once, at any depth (Vapi's validator names the deeper ones only once the upper ones are
fixed). Warnings, not failures: a key Vapi added after that copy's date is not known here.
"""

from __future__ import annotations

import re

from bridge.cli.check_item import Item
from bridge.inert import inert
from bridge.profile import Profile
from bridge.profile.fields import suggest
from bridge.profile.refusals import NESTED, UNKNOWN, profile_key  # `run`'s words: one map
from bridge.sim import schema, schema_deep  # the simulator's copy: no aiohttp needed
from bridge.sim.config import SimConfig
from bridge.sim.validation import validate_body

SHOWN = 5  # problems listed one by one; the rest counted
WHAT = "what the call sends Vapi"
ENUM_MISS = re.compile(r"(?P<where>.+)\.each value in (?P<field>\w+) must be one of the "
                       r"following values: .*")


def schema_items(profile: Profile) -> list[Item]:
    """One warning per problem Vapi's schema finds in what `run` would send (none: [])."""
    body = profile.create_body()
    errors = validate_body(body, SimConfig(strict_limits=True))
    if not errors:
        return []
    # the keys Vapi lacks deeper down (a voice's, a tool's), which its validator (and the
    # simulator's) names only once those above are fixed: all of them in one look
    errors += [e for e in schema_deep.body_errors(body) if UNKNOWN.fullmatch(e)
               and e not in errors]
    found = [_worded(error, profile) for error in errors]
    tail = (f"Vapi refuses the call with 400 — fix the profile (Vapi's published schema of "
            f"{schema.committed()}; a key added since is not known here)")
    items = [Item(True, WHAT, f"{problem}: {tail}" if n == 0 else problem, warn=True)
             for n, problem in enumerate(found[:SHOWN])]
    if len(found) > SHOWN:
        items.append(Item(True, WHAT, f"and {len(found) - SHOWN} more", warn=True))
    return items


def _worded(error: str, profile: Profile) -> str:
    """Vapi's (NestJS's) wording, with the profile's key names and a likely fix."""
    if (unknown := UNKNOWN.fullmatch(error)) is not None:
        where, key = unknown["where"] or "", unknown["key"]
        meant = suggest(key, sorted(_keys_at(where, profile)))
        hint = f" (did you mean '{meant}'?)" if meant else ""
        return (f"{profile_key(profile, where) or 'the call'}: {inert(key, 80)} is no key "
                f"Vapi takes{hint}")
    if (miss := ENUM_MISS.fullmatch(error)) is not None:
        values = schema.enum("clientMessages") if miss["field"] == "clientMessages" else ()
        listed = _listed(profile, miss["where"], miss["field"])
        wrong = [v for v in listed if v not in values] if values else []
        if wrong:
            hints = [f"'{m}'" for m in (suggest(str(w), values) for w in wrong) if m]
            shown = ", ".join(f"'{inert(str(w), 40)}'" for w in wrong)
            return (f"{profile_key(profile, miss['where'] + '.' + miss['field'])}: {shown} "
                    f"{'is' if len(wrong) == 1 else 'are'} no message type Vapi sends"
                    + (f" (did you mean {', '.join(hints)}?)" if hints else ""))
    first, _, rest = error.partition(" ")
    rest = NESTED.sub(lambda m: profile_key(profile, m[0]), rest)  # "… shapes (assistant.x …"
    return inert(f"{profile_key(profile, first)} {rest}", 300)


def _keys_at(where: str, profile: Profile) -> frozenset[str]:
    """The keys Vapi takes where an unknown one was found: the top levels' key lists, else
    the whole schema's at that path for the shape written there (a voice's by its provider;
    none where the shape is not told, so no guess)."""
    component = {"assistantOverrides": "AssistantOverrides", "assistant": "CreateAssistantDTO",
                 "assistantOverrides.monitorPlan": "MonitorPlan",
                 "assistant.monitorPlan": "MonitorPlan"}.get(where)
    if component:
        return schema.keys(component)
    return schema_deep.keys_at(profile.create_body(), where) if where else frozenset()


def _listed(profile: Profile, where: str, field: str) -> list[object]:
    part = {"assistantOverrides": profile.assistant.overrides,
            "assistant": profile.assistant.inline}.get(where) or {}
    value = part.get(field) if isinstance(part, dict) else None
    return list(value) if isinstance(value, list) else []
