"""Field validators for the profile: each turns a YAML value into a typed one, or says
in a few words what is wrong and what would be right."""

from __future__ import annotations

import dataclasses
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def file_path(spec: object) -> Path | None:
    """The path of a `file:PATH` device spec (audio.input/output), expanded; None for any
    other spec."""
    if isinstance(spec, str) and spec.startswith("file:"):
        return Path(spec[5:].strip()).expanduser()
    return None


class Invalid(ValueError):
    """Raised by a field with the sentence to show after `key.path: `."""


_MISSING = object()


def key(spec: Field, help: str, *, example: Any = _MISSING, commented: bool = False,
        block: str = "", deprecated: str = "") -> Any:
    """Declare a profile key once, as a settings dataclass field: its metadata holds the
    validator `spec` (default and bounds) and the `help` shown beside the key in the example
    profile. How the example shows it: `example` instead of the default, `commented` out,
    or a `block` of YAML lines under it (a mapping's sample). A `deprecated` key is still
    read, with that warning (after the key's path) when a profile sets it."""
    return dataclasses.field(metadata={"spec": spec, "help": help, "example": example,
                                       "commented": commented, "block": block,
                                       "deprecated": deprecated})


def has_example(meta: Any) -> bool:
    return meta["example"] is not _MISSING


@dataclass(frozen=True)
class Field:
    default: Any = None
    optional: bool = True

    def check(self, value: Any) -> Any:
        return value

    def parse(self, value: Any) -> Any:
        if value is None:
            if self.optional:
                return self.default
            raise Invalid("must be set")
        if isinstance(value, str) and "\0" in value:  # no path, name or URL holds one
            raise Invalid("holds a NUL character (\\0 in a quoted value): remove it")
        return self.check(value)

    def parse_null(self) -> Any:
        """The key is present with the value null (`key:` or `key: null`)."""
        return self.parse(None)


@dataclass(frozen=True)
class Str(Field):
    max_len: int = 10_000

    def check(self, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            braces = " — a value that starts with { reads as a mapping: quote it, " \
                "\"{call_id}.wav\" (on the command line --set 'KEY=\"{call_id}.wav\"')" \
                if isinstance(value, dict) else ""
            raise Invalid(f"expected a text value, got {_kind(value)}{braces}")
        text = str(value)
        if not text.strip():
            raise Invalid("must not be empty")
        if len(text) > self.max_len:
            raise Invalid(f"at most {self.max_len} characters (got {len(text)})")
        return text


# the shape of a Vapi API key (a UUID): a secret that must never be echoed
KEY_SHAPE = re.compile(r"\s*[0-9A-Fa-f]{8}(-?[0-9A-Fa-f]{4}){3}-?[0-9A-Fa-f]{12}\s*")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class EnvName(Str):
    """The name of an environment variable holding a secret (api.key_env). A value that is
    no such name is most likely the secret itself: the error never shows it."""

    sample: str = "VAPI_API_KEY"
    file_key: str = "api.key_file"

    def check(self, value: Any) -> str:
        text = super().check(value)
        if not ENV_NAME.fullmatch(text):
            raise Invalid(f"must name an environment variable (e.g. {self.sample}), not "
                          f"hold the key itself: put the key in that variable or in "
                          f"{self.file_key}")
        return text


@dataclass(frozen=True)
class SecretPath(Str):
    """The path of a file holding a secret (api.key_file): a value shaped like the key
    itself is refused without being shown."""

    def check(self, value: Any) -> str:
        text = super().check(value)
        if KEY_SHAPE.fullmatch(text):
            raise Invalid("must be the path of a file holding the key, not the key itself: "
                          "put the key in a file (chmod 600) and give its path here")
        return text


@dataclass(frozen=True)
class Url(Str):
    """An http:// or https:// URL with a host, and no user or password in it: httpx would
    send them as Basic auth in place of the API key, and the URL is printed in messages."""

    def check(self, value: Any) -> str:
        text = super().check(value).strip()
        shown = re.sub(r"(?<=//)[^/?#]*@", "…@", text)  # never a password, even refused
        try:
            parts = urlsplit(text)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
            _ = parts.port  # raises on a port that is not a number in range
        except ValueError:
            ok = False
        if not ok:
            raise Invalid(f"{shown!r} is not an http:// or https:// URL with a host — e.g. "
                          f"https://api.vapi.ai")
        if "@" in parts.netloc:
            raise Invalid(f"{shown!r} holds a user or password (…@): take it out — the API "
                          f"key goes in VAPI_API_KEY, a proxy's login in HTTPS_PROXY")
        return text


@dataclass(frozen=True)
class Template(Str):
    """Text with `{name}` placeholders, each one of `names` as it is: no attribute, index,
    conversion or format (`{call_id.short}` is refused here, not at the first call)."""

    names: tuple[str, ...] = ()

    def check(self, value: Any) -> str:
        text = super().check(value)
        known = ", ".join(f"{{{n}}}" for n in self.names)
        try:
            fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(text)
                      if f is not None]
        except ValueError as exc:
            raise Invalid(f"malformed placeholder ({exc}); use {known}, and {{{{ or }}}} for "
                          f"a literal brace") from None
        for name, spec, conversion in fields:
            if name not in self.names or spec or conversion:
                shown = "{" + name + (f"!{conversion}" if conversion else "") + \
                    (f":{spec}" if spec else "") + "}"
                raise Invalid(f"unknown placeholder {shown}; use {known}")
        return text


@dataclass(frozen=True)
class Int(Field):
    lo: int = 0
    hi: int = 2**31

    def check(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"expected a whole number from {self.lo} to {self.hi}, "
                          f"got {_show(value)}")
        if not self.lo <= value <= self.hi:
            raise Invalid(f"must be from {self.lo} to {self.hi} (got {value})")
        return value


@dataclass(frozen=True)
class Num(Field):
    lo: float = 0.0
    hi: float = 1e9

    def check(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Invalid(f"expected a number from {self.lo:g} to {self.hi:g}, "
                          f"got {_show(value)}")
        if not self.lo <= value <= self.hi:
            raise Invalid(f"must be from {self.lo:g} to {self.hi:g} (got {value})")
        return float(value)


@dataclass(frozen=True)
class Bool(Field):
    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise Invalid(f"expected true or false, got {_show(value)}")
        return value


@dataclass(frozen=True)
class Choice(Field):
    choices: tuple[str, ...] = ()

    def check(self, value: Any) -> str:
        if value is False and "off" in self.choices:  # YAML reads a bare `off` as false
            return "off"
        if isinstance(value, bool):  # YAML reads yes/no/on/true… as a boolean
            raise Invalid(f"{_show(value)} (YAML's reading of a bare yes, no, on, true…) is "
                          f"not one of: {', '.join(self.choices)}")
        text = str(value)
        if text not in self.choices:
            hint = suggest(text, self.choices)
            raise Invalid(f"{_show(value)} is not one of: {', '.join(self.choices)}"
                          + (f" (did you mean '{hint}'?)" if hint else ""))
        return text


@dataclass(frozen=True)
class Mapping(Field):
    """A free-form mapping passed through to Vapi as it is (assistant, overrides)."""

    def check(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Invalid(f"expected a mapping of keys to values, got {_kind(value)}")
        return value


@dataclass(frozen=True)
class Device(Field):
    """`default`, `null`, `file:PATH`, `pulse:NAME`, a device index, or a (part of a) device
    name."""

    def parse_null(self) -> str:
        return "null"  # YAML reads a bare `null` as None; for a device it names the null one

    def check(self, value: Any) -> str | int:
        if isinstance(value, bool):
            raise Invalid("expected default, null, file:PATH, pulse:NAME, a device index or "
                          "name")
        if isinstance(value, int):
            if value < 0:
                raise Invalid("a device index is 0 or more; `vapi-bridge devices` lists them")
            return value
        if not isinstance(value, str) or not value.strip():
            raise Invalid("expected default, null, file:PATH, pulse:NAME, a device index or "
                          "name")
        if value.startswith("file:") and not value[5:].strip():
            raise Invalid("file: needs a path, e.g. file:/tmp/visitor.wav")
        if value.startswith("pulse:") and not value[6:].strip():
            raise Invalid("pulse: needs a source or sink name, e.g. pulse:ec_mic (see "
                          "`vapi-bridge devices`)")
        return value


@dataclass(frozen=True)
class Latency(Field):
    def check(self, value: Any) -> str | float:
        if value in ("low", "high"):
            return str(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and \
                0 < value <= 1.0:
            return float(value)
        raise Invalid(f"expected low, high, or seconds between 0 and 1 (got {_show(value)})")


def suggest(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return match[0] if match else None


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return _kind(value)
    return repr(value) if isinstance(value, str) else str(value).lower() \
        if isinstance(value, bool) else str(value)
