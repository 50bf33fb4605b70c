"""YAML to plain Python values, remembering the line of every key.

The profile loader reports errors as `file:line: key.path: …`, so it needs the line of
each key, which PyYAML's safe_load throws away. This composes the node tree instead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from bridge.errors import ProfileError
from bridge.words import not_a_file

Lines = dict[str, int]
OVERRIDDEN = -1  # in Lines: the key's value came from --set, not from the file


# `key: {call_id}…` unquoted: YAML reads a mapping (and fails on what follows it)
_BRACED = re.compile(r"^\s*[\w.-]+:\s+\{")
QUOTE_BRACES = ("a value that starts with { is a mapping to YAML: quote it "
                "(path: \"{profile}/{call_id}.wav\")")


def load_with_lines(text: str, origin: str) -> tuple[Any, Lines]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        fix = "check the indentation and quoting around that line"
        lines = text.splitlines()
        if 0 < line <= len(lines) and _BRACED.match(lines[line - 1]):
            fix = QUOTE_BRACES
        raise ProfileError(f"{origin}:{line}: not valid YAML: {exc.problem} — {fix}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. NUL
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        name = "NUL" if exc.character in (0, "\0") else f"#x{ord(exc.character):04x}" \
            if isinstance(exc.character, str) else f"#x{exc.character:04x}"
        hint = " — is it saved as UTF-16? Save it as UTF-8" if name == "NUL" else \
            " — remove it, or save the file as UTF-8 text"
        raise ProfileError(f"{origin}:{line}: not valid YAML: it holds the control character "
                           f"{name}{hint}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{origin}: not valid YAML: {' '.join(str(exc).split())}") from None
    if node is None:
        return {}, {}
    lines: Lines = {}
    return _convert(node, "", lines, origin), lines


def _convert(node: yaml.Node, path: str, lines: Lines, origin: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(" ").construct_object(key_node) if not isinstance(
                key_node, yaml.ScalarNode) else key_node.value
            key = str(key)
            sub = f"{path}.{key}" if path else key
            if key in out:
                raise ProfileError(f"{origin}:{key_node.start_mark.line + 1}: {sub}: "
                                   f"appears twice — keep one")
            lines[sub] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, sub, lines, origin)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, f"{path}[{i}]", lines, origin) for i, v in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:  # `!!int x`: ValueError
        # the text names the value; under api. that may be a key written in by mistake
        said = "its value cannot be read as YAML" if path.startswith("api.") else \
            " ".join(str(exc).split())
        raise ProfileError(f"{origin}:{node.start_mark.line + 1}: {path}: {said} — check "
                           f"the value (quoted, it is kept as text)") from None
    finally:
        loader.dispose()


def not_a_profile(path: Path) -> ProfileError:
    """The error for a profile PATH that is no regular file: what it is, and the fix."""
    kind = not_a_file(path)
    if kind == "a directory":
        try:
            inside = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")
                            and p.is_file() and p.stat().st_size)  # not an empty one
        except OSError:
            inside = []
        example = inside[0] if inside else path / "NAME.yaml"
        return ProfileError(f"{path} is a directory, not a profile — give a profile file in "
                            f"it (e.g. -p {example}), or create one: vapi-bridge init "
                            f"{path / 'NAME.yaml'}")
    if kind is not None:
        return ProfileError(f"{path} is {kind}, not a profile file — give a profile's YAML "
                            f"file (vapi-bridge init NAME writes one)")
    return ProfileError(f"profile not found: {path} — check the path, or create it: "
                        f"vapi-bridge init {path}")


def readable_fix(path: Path) -> str:
    """How to let this process read `path`: by the permission bits that apply to it (the
    owner's, the group's or the others'). (A directory it cannot pass: `locate`.)"""
    uid = os.geteuid()
    try:
        info = path.stat()
    except OSError:
        return f"make it readable by the user running vapi-bridge (uid {uid})"
    if info.st_uid == uid:
        return f"it is this user's own, closed to its owner: chmod u+r {path}"
    if info.st_gid == os.getegid() or info.st_gid in os.getgroups():
        return f"its group is this user's: chmod g+r {path}, or chown it to uid {uid}"
    return (f"make it readable by the user running vapi-bridge (uid {uid}): chmod o+r "
            f"{path}, or chown it to that user")


def read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise not_a_profile(path) from None
    except UnicodeDecodeError as exc:
        utf16 = exc.object[:2] in (b"\xff\xfe", b"\xfe\xff")
        what = "it is UTF-16 text" if utf16 else \
            f"it is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        raise ProfileError(f"cannot read profile {path}: {what} — save it as UTF-8") from None
    except PermissionError as exc:
        raise ProfileError(f"cannot read profile {path}: {exc.strerror} — "
                           f"{readable_fix(path)}") from None
    except OSError as exc:
        raise ProfileError(f"cannot read profile {path}: {exc.strerror or exc}") from None
    if not text.strip():
        raise ProfileError(f"{path} is empty, not a profile — write the example into it: "
                           f"vapi-bridge init --force {path}")
    return text
