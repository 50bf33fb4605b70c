"""A big text frame parsed on a thread of its own, so that the event loop goes on meanwhile.

A long call's `conversation-update` (Vapi sends the whole conversation each turn, up to the
socket's 1 MiB) took ~21 ms of the loop thread's CPU to parse (the decoder ~14 ms, the
depth walk ~4 ms, the bracket count and the rest), and all that time the loop ran nothing
else: the uplink's frames, the playout's writes, the watchdog waited behind it. Parsed here
the loop runs between the parser's turns at the GIL, which the decoder hands over only where
it runs Python: at each number it converts (its hooks) and, on this thread, at each object
(`safejson.share_the_gil`, at no measurable cost: a megabyte of objects with no number held
the loop 28-32 ms else, 9-11 ms now), so the loop waits about the interpreter's switch
interval (5 ms) and a busy machine's share, not the whole parse (a megabyte's: 34-57 ms at
load 6-9). An array of bare strings has no such point: held as on the loop (a megabyte,
15-20 ms) (benchmarks/parse_cost.py, docs/performance.md).

The reader awaits the parse, so events keep their order, and the audio read after the
frame waits for it as it did before. Frames under `OFF_LOOP_CHARS` parse on the loop: a
thread's hand-over costs more than they do. The thread is started with a stack as roomy as
the main thread's, so `safejson` trusts the decoder's own depth guard there too (on a
thread with an unknown stack it first reads the text's depth with a regular expression
that holds the GIL for its whole run). Should the thread not be had (the interpreter
shutting down), the frame is parsed on the loop as before: a parse never fails for it.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from bridge.vapi import messages, safejson

OFF_LOOP_CHARS = 64 * 1024  # ~2 ms on the loop (a thread's round trip: ~0.1-0.3 ms)

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _start() -> ThreadPoolExecutor:
    """The parser's thread, sharing the GIL at each object, started now with a roomy stack
    (the stack size is the process's setting for threads started next: set for this one
    alone); where that cannot be set, started at its first parse, not trusted."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="vapi-parse",
                              initializer=safejson.share_the_gil)
    try:
        before = threading.stack_size(safejson.ROOMY_STACK)
    except (ValueError, RuntimeError):  # a platform that cannot set it: the thread is not
        return pool  # trusted (the depth read first, as elsewhere)
    try:
        pool.submit(safejson.trust_this_thread).result()
    finally:
        threading.stack_size(before)
    return pool


def _parser() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = _start()
        return _pool


async def parse_event(text: str) -> messages.Event:
    """`messages.parse_event(text)`, on the parser's thread for a big text; never raises
    (but a cancellation of the awaiting task)."""
    if len(text) < OFF_LOOP_CHARS:
        return messages.parse_event(text)
    try:
        future = _parser().submit(messages.parse_event, text)
    except RuntimeError:  # the interpreter shutting down: no thread is started any more
        return messages.parse_event(text)
    return await asyncio.wrap_future(future)
