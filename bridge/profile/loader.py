"""Find, read and validate a profile (its secrets: `bridge.profile.keys`).

Every error is one `ProfileError` line: `file:line: key.path: what is wrong — the fix`.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import yaml

from bridge.errors import ProfileError
from bridge.inert import inert
from bridge.profile.audiofiles import file_problem
from bridge.profile.fields import Invalid, file_path, suggest
from bridge.profile.fields import Mapping as MappingField
from bridge.profile.locate import find_profile
from bridge.profile.model import (
    FORBIDDEN,
    GONE_FROM_VAPI,
    SECTIONS,
    SPEC,
    WIRE_RATES,
    Profile,
)
from bridge.profile.sounds import resolve_sounds
from bridge.profile.warnings import profile_warnings
from bridge.profile.yamlnodes import OVERRIDDEN, Lines, load_with_lines, read_text
from bridge.vapi.plaintext import check_plaintext

log = logging.getLogger("bridge.profile")



def load_profile(name_or_path: str, overrides: list[str] | None = None) -> Profile:
    path = find_profile(name_or_path)
    return parse_profile(read_text(path), origin=str(path), overrides=overrides,
                         directory=path.parent.resolve())


def parse_profile(text: str, *, origin: str = "<profile>", overrides: list[str] | None = None,
                  directory: Path | None = None) -> Profile:
    data, lines = load_with_lines(text, origin)
    if not isinstance(data, dict):
        raise ProfileError(f"{origin}:1: the profile must be a mapping of sections "
                           f"({', '.join(SPEC)})")
    for item in overrides or []:
        path = _apply_override(data, item)
        lines[path] = OVERRIDDEN
        lines.setdefault(path.split(".", 1)[0], OVERRIDDEN)  # a section only --set gives
    # the file's own name, whatever its directory: it names the control socket and the call
    file = Path(origin)
    name = (origin.strip("<>") if origin.startswith("<") else
            file.stem if file.suffix in (".yaml", ".yml") else file.name)
    return _build(data, lines, origin, name, directory or Path.cwd())


#: What `--set SECTION.MAPPING.KEY=VALUE` (a key inside a mapping sent to Vapi as it is:
#: `assistant.overrides.firstMessage=…`) reads as other than text: YAML when it starts as
#: YAML's quoting or collections do, else only a plain number, true/false or null. Text is
#: text: "Welcome to ACME: how can I help?" was a mapping, "yes" true, "0123" the octal 83,
#: "+15551234567" a number, "Room #5" "Room". The profile's own keys are YAML, as in the
#: file: each has a type that checks them (`api.allow_plaintext=yes`, `sounds.hang=off`).
EXPLICIT = ("{", "[", '"', "'")
NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
WORDS: dict[str, Any] = {"true": True, "false": False, "null": None, "~": None, "": None}


def _value(raw: str) -> Any:
    """A `--set` VALUE (see EXPLICIT); YAMLError for YAML that does not parse."""
    if raw.lstrip().startswith(EXPLICIT):
        return yaml.safe_load(raw)
    if raw.lower() in WORDS:
        return WORDS[raw.lower()]
    if NUMBER.fullmatch(raw):
        return float(raw) if any(c in raw for c in ".eE") else int(raw)
    return raw


def _apply_override(data: dict[str, Any], item: str) -> str:
    """Apply `--set SECTION.KEY=VALUE`; returns the key's path."""
    key, sep, raw = item.partition("=")
    if not sep or "." not in key:  # a value is never shown: it may be a key given by mistake
        given = (f"--set {key!r}=…" if sep else f"--set {item!r}"
                 if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", item) else "--set with no '='")
        raise ProfileError(f"{given}: expected SECTION.KEY=VALUE, e.g. "
                           f"--set audio.input=null")
    shown = inert(key, 80)  # the operator's text, a pasted ESC [ too: escaped, as in a file
    section, field_name = key.split(".", 1)
    nested = field_name.split(".")
    inside = len(nested) > 1 and isinstance(SPEC.get(section, {}).get(nested[0]), MappingField)
    try:
        value = _value(raw) if inside else yaml.safe_load(raw) if raw else None
    except (yaml.YAMLError, ValueError, TypeError) as exc:  # [2026-13-45]: a date, no day
        problem = getattr(exc, "problem", None) or "not a YAML value"
        secret = section == "api"  # api.key_env holding the key itself: never echoed
        where = "" if secret else f" in {raw!r}"
        quoted = json.dumps(raw) if "'" not in raw and not secret else '"./a b"'
        raise ProfileError(f"--set {shown}: {problem}{where} — quote the whole value for "
                           f"the shell and for YAML, e.g. --set '{shown}={quoted}'") from None
    if data.get(section) is None:  # absent, or only commented keys under it
        data[section] = {}
    target = data[section]
    if not isinstance(target, dict):
        raise ProfileError(f"--set {shown}: {inert(section, 40)} is not a section")
    field_name, *inner = field_name.split(".")
    if "" in (field_name, *inner):
        raise ProfileError(f"--set {shown}: a key name is empty; expected SECTION.KEY=VALUE")
    if inside and (indexed := [p for p in inner if "[" in p]):  # messages[0]: no key name
        whole = inert(key.split(indexed[0])[0] + indexed[0].split("[")[0], 80)
        raise ProfileError(f"--set {shown}: a list's item cannot be set by its index — give "
                           f"the whole list, as YAML: --set '{whole}=[…]'")
    if inner and field_name in SPEC.get(section, {}):  # inside a mapping: overrides.KEY=…
        if not isinstance(SPEC[section][field_name], MappingField):
            raise ProfileError(f"--set {shown}: {section}.{field_name} is not a mapping; "
                               f"give --set {section}.{field_name}=VALUE")  # (known names)
        path = section
        for part in (field_name, *inner[:-1]):
            path = f"{path}.{part}"
            if target.get(part) is None:
                target[part] = {}
            elif not isinstance(target[part], dict):
                raise ProfileError(f"--set {shown}: {inert(path, 80)} is not a mapping")
            target = target[part]
        field_name = inner[-1]
    elif inner:  # an unknown section or key: the profile's check names it, with a hint
        key = f"{section}.{field_name}"
    target[field_name] = value
    return key


def _err(origin: str, lines: Lines, path: str, message: str) -> ProfileError:
    line = lines.get(path) or lines.get(path.rsplit(".", 1)[0]) or 0
    shown = inert(path, 80)  # a key is the file's text: a NUL, an ESC [ shown escaped
    if line == OVERRIDDEN:  # point at the override, not at a line of the file
        return ProfileError(f"--set {shown}: {message}")
    return ProfileError(f"{f'{origin}:{line}' if line else origin}: {shown}: {message}")


def _build(data: dict[str, Any], lines: Lines, origin: str, name: str, directory: Path) -> Profile:
    for section in data:
        line = lines.get(section) or 0  # (OVERRIDDEN: a --set's, named as typed, escaped)
        if section not in SPEC and not re.fullmatch(r"[A-Za-z_][\w-]{0,39}", str(section)) \
                and line != OVERRIDDEN:  # another file (its first key may be a secret's line)
            raise ProfileError(f"{origin}{f':{line}' if line else ''}: a key that is no "
                               f"section name — is this a vapi-bridge profile? (vapi-bridge "
                               f"init NAME writes one)")
        if section not in SPEC:
            hint = suggest(section, list(SPEC))
            raise _err(origin, lines, section, "unknown section"
                       + (f" (did you mean '{hint}'?)" if hint else
                          f"; valid sections: {', '.join(SPEC)}"))
    built: dict[str, Any] = {}
    for section, fields in SPEC.items():
        raw = data.get(section)
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise _err(origin, lines, section, "must be a mapping of keys (indent the keys "
                                               "under it)")
        for key in raw:
            path = f"{section}.{key}"
            if path in FORBIDDEN:
                raise _err(origin, lines, path, FORBIDDEN[path])
            if key not in fields:
                hint = suggest(str(key), list(fields))
                raise _err(origin, lines, path, "unknown key"
                           + (f" (did you mean '{hint}'?)" if hint
                              else f"; valid keys: {', '.join(fields)}"))
        values: dict[str, Any] = {}
        for key, spec in fields.items():
            try:
                values[key] = (spec.parse(None) if key not in raw else
                               spec.parse_null() if raw[key] is None else spec.parse(raw[key]))
            except Invalid as exc:
                raise _err(origin, lines, f"{section}.{key}", str(exc)) from None
        built[section] = values
    _resolve_files(built["audio"], directory)
    resolve_sounds(built["sounds"], directory,
                   lambda key, message: _err(origin, lines, f"sounds.{key}", message))
    _cross_checks(built, lines, origin)
    return Profile(name=name, origin=origin, directory=directory,
                   warnings=profile_warnings(data, built, lines),
                   overridden=frozenset(k for k, v in lines.items() if v == OVERRIDDEN),
                   **{s: SECTIONS[s](**v) for s, v in built.items()})


def _resolve_files(audio: dict[str, Any], directory: Path) -> None:
    """A relative `file:PATH` is relative to the profile's directory, as are
    api.key_file and service.control_socket."""
    for key in ("input", "output"):
        path = file_path(audio[key])
        if path is not None and not path.is_absolute():
            audio[key] = f"file:{directory / path}"


def _cross_checks(built: dict[str, dict[str, Any]], lines: Lines, origin: str) -> None:
    assistant = built["assistant"]
    if bool(assistant["id"]) == bool(assistant["inline"]):
        given = [k for k in ("inline", "id") if lines.get(f"assistant.{k}") == OVERRIDDEN]
        which = "neither is set" if not assistant["id"] else "both are set" + (
            f"; add --set assistant.{'id' if given[0] == 'inline' else 'inline'}=null"
            if len(given) == 1 else "")  # the other came from the file
        raise _err(origin, lines, f"assistant.{given[0]}" if given else "assistant",
                   f"set exactly one of assistant.id (an assistant from the Vapi dashboard) "
                   f"or assistant.inline ({which})")
    for part in ("inline", "overrides"):
        for key in assistant[part] or {}:
            if key in GONE_FROM_VAPI:
                raise _err(origin, lines, f"assistant.{part}.{key}", GONE_FROM_VAPI[key])
    wire = built["wire"]
    if wire["sample_rate"] is None:
        wire["sample_rate"] = WIRE_RATES[wire["format"]]
    if wire["sample_rate"] % 50:
        raise _err(origin, lines, "wire.sample_rate", "must be a multiple of 50 Hz so a 20 ms "
                   "frame is a whole number of samples (e.g. 8000, 16000, 24000)")
    audio = built["audio"]
    if not audio["playout_min_ms"] <= audio["playout_start_ms"] <= audio["playout_max_ms"]:
        given = [k for k in ("playout_start_ms", "playout_min_ms", "playout_max_ms")
                 if lines.get(f"audio.{k}") == OVERRIDDEN]  # name what the user changed
        raise _err(origin, lines, f"audio.{(given or ['playout_start_ms'])[0]}",
                   f"audio.playout_start_ms ({audio['playout_start_ms']:g}) must lie between "
                   f"audio.playout_min_ms ({audio['playout_min_ms']:g}) and "
                   f"audio.playout_max_ms ({audio['playout_max_ms']:g})")
    if (problem := file_problem(audio)) is not None:
        raise _err(origin, lines, *problem)
    api = built["api"]
    try:
        check_plaintext(api["base_url"], api["allow_plaintext"], "api.base_url")
    except ProfileError as exc:
        raise _err(origin, lines, "api.base_url", str(exc).removeprefix("api.base_url ")
                   ) from None
