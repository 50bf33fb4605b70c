"""A POST /call body checked against the whole of Vapi's published `CreateCallDTO`, as
Vapi's validators would: unknown keys at every depth, types, enums, ranges and lengths,
`oneOf` branches told apart by their `type` or `provider`. The simulator's own checks
(`validation.py`) cover the top levels and Vapi's wording; this finds what they do not,
so that a profile the simulator takes is one Vapi takes. A required field is refused when
missing unless the schema documents a default for it (`audioFormat.sampleRate`: Vapi's
16000). `component_errors` checks a command's destination the same way.

The components `CreateCallDTO` reaches are kept in ``vapi_create_call.json.gz`` beside
this module, from the same copy of the schema as ``vapi_schema.json``. To refresh::

    python -m bridge.sim.schema_deep path/to/openapi.json bridge/sim/vapi_create_call.json.gz
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("vapi_create_call.json.gz")
ROOT = "CreateCallDTO"
TYPE_WORDS = {"string": "a string", "number": "a number", "integer": "an integer number",
              "boolean": "a boolean value", "array": "an array", "object": "an object"}


@cache
def _components() -> dict[str, Any]:
    return dict(json.loads(gzip.decompress(DATA.read_bytes())))


def _deref(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = _components()[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _is(kind: str, value: Any) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    return {"string": isinstance(value, str), "number": isinstance(value, int | float),
            "integer": isinstance(value, int), "boolean": False,
            "array": isinstance(value, list), "object": isinstance(value, dict)}.get(kind, True)


def _name(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _branches(value: Any, options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The branches a discriminated value can be (all of them when none says)."""
    if isinstance(value, dict):
        for field in ("type", "provider"):
            if field in value:
                picked = [b for b in options
                          if value[field] in (b.get("properties", {}).get(field, {})
                                              .get("enum") or ())]
                if picked:
                    return picked
    return options


def _unknown_kind(value: Any, options: list[dict[str, Any]], path: str) -> list[str]:
    """A `type` or `provider` that every branch names and none has: that field, with all
    the values the branches take (the first branch's own error said `voice.provider must
    be one of the following values: azure` of an `elevenlabs` voice, whose name is 11labs)."""
    for field in ("type", "provider"):
        kinds = [b.get("properties", {}).get(field, {}).get("enum") for b in options]
        if isinstance(value, dict) and field in value and kinds and all(kinds):
            allowed = list(dict.fromkeys(k for kind in kinds for k in kind))
            return [] if value[field] in allowed else [
                f"{_name(path, field)} must be one of the following values: "
                + ", ".join(map(str, allowed))]
    return []


def check(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """What Vapi would refuse in `value` against `schema` (empty: nothing)."""
    schema = _deref(schema)
    if "allOf" in schema:
        errors = [e for part in schema["allOf"] for e in check(value, part, path)]
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return errors + (check(value, rest, path) if rest.keys() & {"properties", "enum",
                                                                     "type"} else [])
    if "oneOf" in schema or "anyOf" in schema:
        every = [_deref(b) for b in schema.get("oneOf") or schema.get("anyOf") or []]
        if unknown := _unknown_kind(value, every, path):
            return unknown
        options = _branches(value, every)
        results = [check(value, b, path) for b in options]
        if not results or any(not r for r in results):
            return []
        return results[0] if len(results) == 1 else \
            [f"{path or 'body'} matches none of its {len(results)} allowed shapes "
             f"({results[0][0]})"]
    if value is None and schema.get("nullable"):
        return []
    kind = schema.get("type")
    where = path or "body"
    if isinstance(kind, str) and "enum" not in schema and not _is(kind, value):  # (the
        # schema has enums of strings typed "object": the enum is what Vapi checks)
        return [f"{where} must be {TYPE_WORDS.get(kind, kind)}"]
    if "enum" in schema and kind != "array" and value not in schema["enum"]:
        return [f"{where} must be one of the following values: "
                + ", ".join(map(str, schema["enum"]))]
    return _bounds(value, schema, where) + _inside(value, schema, path)


def _bounds(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    errors = []
    if isinstance(value, str):
        if len(value) > schema.get("maxLength", len(value)):
            errors.append(f"{where} must be shorter than or equal to {schema['maxLength']} "
                          "characters")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{where} must be longer than or equal to {schema['minLength']} "
                          "characters")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where} must not be greater than {schema['maximum']}")
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where} must not be less than {schema['minimum']}")
    elif isinstance(value, list) and len(value) > schema.get("maxItems", len(value)):
        errors.append(f"{where} must contain no more than {schema['maxItems']} elements")
    return errors


def _has_default(schema: Any) -> bool:
    """A required property Vapi fills in when it is left out: the schema documents its
    default (`default`, or `@default` in its description: `audioFormat.sampleRate`)."""
    return not isinstance(schema, dict) or "default" in schema or \
        "@default" in str(schema.get("description", ""))


def _inside(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    errors: list[str] = []
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value[:1000]):
            errors += check(item, schema["items"], f"{path}[{i}]")
    properties = schema.get("properties")
    if isinstance(value, dict) and isinstance(properties, dict):
        prefix = f"{path}." if path else ""
        required = schema.get("required", ())
        errors += [f"{prefix}{key} should not be empty" for key in required
                   if key not in value and not _has_default(properties.get(key))]
        for key, item in value.items():
            if key not in properties:
                errors.append(f"{prefix}property {key} should not exist")
            elif item is not None or key in required:  # null: an optional one is missing
                # to Vapi's validators (@IsOptional), a required one is checked as given
                errors += check(item, properties[key], _name(path, key))
    return errors


def _settled(schema: dict[str, Any], value: Any) -> dict[str, Any]:
    """`schema` as it applies to `value`: its allOf parts' properties joined, the branch of
    a oneOf its `type` or `provider` picks (none: {}, no guess)."""
    schema = _deref(schema)
    if "allOf" in schema:
        joined = {k: v for k, v in schema.items() if k != "allOf"}
        properties = dict(joined.get("properties") or {})
        for part in schema["allOf"]:
            settled = _settled(part, value)
            properties.update(settled.get("properties") or {})
            joined.setdefault("items", settled.get("items"))
        return {**joined, "properties": properties}
    if "oneOf" in schema or "anyOf" in schema:
        every = [_deref(b) for b in schema.get("oneOf") or schema.get("anyOf") or []]
        options = _branches(value, every)
        return _settled(options[0], value) if len(options) == 1 else {}
    return schema


def keys_at(body: Any, path: str) -> frozenset[str]:
    """The keys `CreateCallDTO` takes at `path` of `body` (`assistantOverrides.voice`,
    `assistant.model.tools[0]`), for the shape the value there has; none where it cannot
    tell (a oneOf whose value names no branch)."""
    schema, value = _settled({"$ref": f"#/components/schemas/{ROOT}"}, body), body
    for part in re.findall(r"\[\d+\]|[^.\[\]]+", path):
        if part.startswith("["):
            items, index = schema.get("items"), int(part[1:-1])
            if not isinstance(value, list) or index >= len(value) or \
                    not isinstance(items, dict):
                return frozenset()
            schema, value = items, value[index]
        else:
            properties = schema.get("properties") or {}
            if not isinstance(value, dict) or part not in properties:
                return frozenset()
            schema, value = properties[part], value.get(part)
        schema = _settled(schema, value)
    return frozenset(schema.get("properties") or ())


def component_errors(value: Any, name: str, path: str) -> list[str]:
    """What Vapi refuses in `value` as the schema component `name`, one `CreateCallDTO`
    reaches (the destination of a client's transfer or handoff)."""
    return check(value, _components()[name], path)


def body_errors(body: dict[str, Any]) -> list[str]:
    """Everything Vapi's `CreateCallDTO` refuses in a POST /call body."""
    return check(body, {"$ref": f"#/components/schemas/{ROOT}"})


def _reached(components: dict[str, Any], name: str, found: set[str]) -> None:
    stack: list[Any] = [components[name]]
    found.add(name)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and (target := ref.rsplit("/", 1)[1]) not in found:
                found.add(target)
                stack.append(components[target])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bridge.sim.schema_deep OPENAPI.json OUT.json.gz", file=sys.stderr)
        return 2
    components = json.loads(Path(argv[0]).read_text(encoding="utf-8"))["components"]["schemas"]
    found: set[str] = set()
    _reached(components, ROOT, found)
    text = json.dumps({k: components[k] for k in sorted(found)}, separators=(",", ":"))
    Path(argv[1]).write_bytes(gzip.compress(text.encode(), 9, mtime=0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
