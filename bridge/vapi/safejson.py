"""JSON from the network, bounded: size and nesting are checked before parsing, so no
input can exhaust the stack (the decoder recurses once per level) or raise anything but
`UnsafeJson`, a `ValueError`. `NaN` and `Infinity`, which Python's json would take, are
not JSON and are refused too, as is a number too large for a float (`1e999`, which would
become infinity): printed again, each would be a number no JSON reader takes. An integer
of more than 18 digits is a float (so none is too large to compare or convert).

Vapi's messages nest about ten levels deep; `MAX_DEPTH` leaves room for tool-call
arguments. The depth is read from the text itself, string literals removed, with one
vectorised pass (numpy) so a megabyte costs milliseconds, not a Python loop.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported at the first deep text: the profile's loader (`ctl`) does without
    import numpy as np

MAX_BYTES = 2**20
MAX_DEPTH = 64

# a string literal; its closing quote optional, so that a quote never closed (`"\\"\\"…`)
# is one match to the end rather than a failed search from each quote inside it, which
# took quadratic time (120 KB: 37 s); possessive (no backtracking kept), since a
# megabyte of escaped quotes held 58 MB of the engine's backtrack states for a moment
_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class UnsafeJson(ValueError):
    """Text that is not JSON, or JSON too big or too deep to take."""


def _not_json(name: str) -> Any:
    """`NaN`, `Infinity`, `-Infinity`: Python's json takes them, JSON has no such values."""
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """A JSON number with a fraction or exponent; `1e999` overflows to infinity, which is no
    JSON value either."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def _integer(text: str) -> int | float:
    """A JSON integer: past 18 digits a float (a 400-digit `cost` was an int no float
    conversion could take: OverflowError where it was compared), refused past a float's
    range as `1e999` is."""
    return int(text) if len(text.lstrip("-")) <= 18 else _finite(text)


@functools.cache
def _steps() -> np.ndarray:
    """Each byte's step in depth: +1 for an opening bracket, -1 for a closing one."""
    import numpy as np

    step = np.zeros(256, dtype=np.int32)
    step[[ord("["), ord("{")]] = 1
    step[[ord("]"), ord("}")]] = -1
    return step


def nesting(text: str) -> int:
    """How deep the brackets of a JSON text go (strings ignored)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    import numpy as np

    steps = _steps()[np.frombuffer(brackets.encode("ascii"), dtype=np.uint8)]
    return int(np.cumsum(steps).max())


def loads(data: str | bytes | bytearray, *, max_bytes: int = MAX_BYTES,
          max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text within the bounds; raises only `UnsafeJson`."""
    if len(data) > max_bytes:
        raise UnsafeJson(f"{len(data)} bytes, more than {max_bytes}")
    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        # no deeper than it has opening brackets (in strings too): Vapi's usual message has
        # a few dozen, and the scan (~35 us each, 13 % of a transcript flood's parsing) is
        # then not needed
        opened = text.count("[") + text.count("{")
        if opened > max_depth and (depth := nesting(text)) > max_depth:
            raise UnsafeJson(f"nested {depth} deep, more than {max_depth}")
        return json.loads(text, parse_constant=_not_json, parse_float=_finite,
                          parse_int=_integer)
    except UnsafeJson:
        raise
    except (ValueError, RecursionError, MemoryError) as exc:  # UnicodeDecodeError is one
        raise UnsafeJson(f"invalid JSON ({exc.__class__.__name__})") from None
