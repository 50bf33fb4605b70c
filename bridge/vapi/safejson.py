"""JSON from the network, bounded: size and nesting are checked, so no input can exhaust
the stack (the decoder recurses once per level) or raise anything but `UnsafeJson`, a
`ValueError`. `NaN` and `Infinity`, which Python's json would take, are not JSON and are
refused too, as is a number too large for a float (`1e999`, which would become infinity):
printed again, each would be a number no JSON reader takes. An integer of more than 18
digits is a float (so none is too large to compare or convert).

Vapi's messages nest about ten levels deep; `MAX_DEPTH` leaves room for tool-call
arguments. The text is parsed first: CPython's decoder counts its levels against the
recursion limit and raises `RecursionError` past it (a megabyte of `[`: at once), and the
value is then walked level by level, without recursion, for the bound. The depth used to
be read from the text before parsing, its string literals removed by a regular expression
that held the GIL for its whole run. A long call's `conversation-update` (Vapi sends the
whole conversation each turn, up to the socket's 1 MiB) then kept the speaker's and the
microphone's PortAudio callbacks (Python: they need the GIL) waiting behind 12.5 ms of
the loop's CPU, 29-41 ms of wall time on a loaded machine, and on the rig the speaker
underflowed; now 3 ms, 8-12 ms (benchmarks/parse_cost.py, docs/performance.md). Parsing
hands the GIL over at each number it converts (the `parse_int`/`parse_float` hooks are
Python), and on a thread that asks for it (`share_the_gil`) at each object too (an
`object_hook`: a text without numbers had no such point), and the walk is Python too. The
text's own depth (`nesting`, vectorised) is still read where the decoder's guard is too lax
to trust (a recursion limit raised past `DECODER_SAFE_LIMIT`, or a thread other than the
main one, whose stack may be small, but one started with `ROOMY_STACK` that says so:
`trust_this_thread`, the call socket's parser thread, `bridge.vapi.offloop`) and to say how
deep a refused text is.
"""

from __future__ import annotations

import functools
import gc
import json
import math
import re
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported at the first deep text: the profile's loader (`ctl`) does without
    import numpy as np

MAX_BYTES = 2**20
MAX_DEPTH = 64
# the decoder's recursion is guarded by the interpreter's recursion limit: up to this (the
# default is 1000) its C frames fit the main thread's stack (20,000 levels took 3.3 MB);
# past it (raised by a script that imports the client) the text's depth is checked first,
# as before. So it is on any other thread: its stack may be far smaller (musl's default is
# 128 KiB, threading.stack_size() as small as 32 KiB), and 990 levels overran 128 KiB (a
# segfault, on a server's text); the event loop of `run` and of a script is the main one's
DECODER_SAFE_LIMIT = 10_000
ROOMY_STACK = 8 * 2**20  # a thread's stack as the main thread's usually is (ulimit -s)
_THREAD = threading.local()  # `roomy`: a thread started with ROOMY_STACK (its own flag:
# an ident may be a later thread's once this one has ended)
_CONTAINERS = (dict, list)
# a text this long is parsed with the cyclic collector paused: the objects it makes (a
# megabyte: ~10,000 lists and dicts) set off a dozen young collections mid-parse, and now
# and then a full one over the whole heap (46-55 ms with 150,000 objects), each holding the
# GIL throughout; paused, the young ones come once, after it
GC_PAUSE_CHARS = 64 * 1024

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


def deeper(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests past `limit` levels (as `nesting` counts them), read
    one level at a time: no recursion, and it stops at the level past the limit."""
    level = [value] if type(value) in _CONTAINERS else []
    for _ in range(limit):
        if not level:
            return False
        level = [c for v in level for c in (v.values() if type(v) is dict else v)
                 if type(c) in _CONTAINERS]
    return bool(level)


def _object(made: dict[str, Any]) -> dict[str, Any]:
    """A JSON object, as the decoder made it; a Python function, so that the decoder hands
    the GIL over at each object too (a text without numbers had no other such point)."""
    return made


def _decode(text: str) -> Any:
    if getattr(_THREAD, "sharing", False):
        return json.loads(text, parse_constant=_not_json, parse_float=_finite,
                          parse_int=_integer, object_hook=_object)
    return json.loads(text, parse_constant=_not_json, parse_float=_finite, parse_int=_integer)


def _decode_paused(text: str) -> Any:
    """`_decode` with the cyclic collector paused (if it runs: a program may have stopped
    it itself)."""
    paused = gc.isenabled()
    try:  # (disabled inside: a SIGINT's KeyboardInterrupt right after it leaves it on)
        gc.disable()
        return _decode(text)
    finally:
        if paused:
            gc.enable()


def _too_deep(text: str, max_depth: int) -> UnsafeJson:
    return UnsafeJson(f"nested {nesting(text)} deep, more than {max_depth}")


def _past_the_stack(text: str, max_depth: int) -> UnsafeJson:
    """The refusal for the decoder's RecursionError: too deep for the bound, or (parsed
    where the stack is nearly used up, or under a recursion limit a program lowered) for
    the room left, when the text is within the bound or its depth cannot be read here."""
    try:
        depth = nesting(text)
    except (RecursionError, MemoryError):
        return UnsafeJson("nested past the recursion limit")
    if depth > max_depth:
        return UnsafeJson(f"nested {depth} deep, more than {max_depth}")
    return UnsafeJson(f"nested {depth} deep, past the recursion limit where it was parsed")


def trust_this_thread() -> None:
    """Trust the decoder's guard on the calling thread as on the main one: to be called
    only from a thread started with a stack of at least `ROOMY_STACK` bytes
    (`bridge.vapi.offloop`'s), where the recursion limit's levels fit as they do there."""
    _THREAD.roomy = True


def share_the_gil() -> None:
    """Parse on the calling thread so that another (the event loop's) gets the GIL between
    any two objects as well as numbers (`bridge.vapi.offloop`'s parser thread; no cost
    measured, docs/performance.md)."""
    _THREAD.sharing = True


def _decoder_unguarded() -> bool:
    """Whether the decoder's own guard may let it overrun this thread's stack."""
    return sys.getrecursionlimit() > DECODER_SAFE_LIMIT or (
        threading.get_ident() != threading.main_thread().ident
        and not getattr(_THREAD, "roomy", False))


def loads(data: str | bytes | bytearray, *, max_bytes: int = MAX_BYTES,
          max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text within the bounds; raises only `UnsafeJson`."""
    if len(data) > max_bytes:
        raise UnsafeJson(f"{len(data)} bytes, more than {max_bytes}")
    text = ""
    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        # no deeper than it has opening brackets (in strings too): Vapi's usual message has
        # a few dozen, and the walk is then not needed
        deep = text.count("[") + text.count("{") > max_depth
        if deep and _decoder_unguarded() and nesting(text) > max_depth:
            raise _too_deep(text, max_depth)
        value = _decode(text) if len(text) < GC_PAUSE_CHARS else _decode_paused(text)
        # (inside the try: deep in a stack, the walk's frames and the count's may raise
        # RecursionError too)
        if deep and deeper(value, max_depth):
            raise _too_deep(text, max_depth)
    except UnsafeJson:
        raise
    except RecursionError:  # the decoder's own guard: nested past the recursion limit
        try:
            refused = _past_the_stack(text, max_depth)
        except RecursionError:  # no room left for even that call
            refused = UnsafeJson("nested past the recursion limit")
        raise refused from None
    except (ValueError, MemoryError) as exc:  # UnicodeDecodeError is one
        raise UnsafeJson(f"invalid JSON ({exc.__class__.__name__})") from None
    return value
