"""A long call's `conversation-update` is parsed without keeping the speaker from playing.

Vapi sends `conversation-update` by default, the whole conversation each time (every turn in
two shapes, times included), so a long call's grows each turn, up to the call socket's 1 MiB.
The speaker's and the microphone's PortAudio callbacks are Python: each needs the GIL, and
waits while the event loop's thread holds it. The depth check removed the text's string
literals with one regular expression, which held the GIL for its whole run: a callback
waited behind ~12 ms of the loop thread's CPU for a megabyte, as long as the machine made
of it (29-41 ms of wall time with other load; benchmarks/parse_cost.py). Through the rig
(a call of 16 s with such a frame each second while the assistant spoke and the visitor
talked, interleaved runs) the speaker underflowed 0-8 times a call at a load average of
2-8 (4.2 on average, 6 calls), 20-42 at 15-20, against 0-1 and 0-17 without the frames;
parsed first, then walked, with the GIL handed over at least at every number: 0-2 (0.75,
4 calls) and 0-11. (Frames of 256 and 512 KiB: no more than without them, either way.)

The bound is counted on the parsing thread's own CPU clock, not the wall clock: how much
work the callback waited behind, whatever the machine's load made of it. The callback
thread wakes every millisecond (the interpreter's switch interval set to 0.5 ms, so that
the wait for the GIL is the code's and not the interval's); the best of three runs counts
(a run whose callback waited for a core, not the GIL, is the machine's).
"""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from bridge.sim.longcall import padded
from bridge.vapi import messages, safejson

HELD_MS = 6.0  # a 20 ms block's device buffer is 40 ms ("low" latency): far within it


@pytest.fixture(scope="module")
def megabyte() -> str:
    text = padded({"type": "conversation-update", "conversation": []}, 1000, 1)[0]
    assert 0.95 * safejson.MAX_BYTES < len(text) <= safejson.MAX_BYTES
    return text


def held_off(work: Callable[[], object]) -> float:
    """The most CPU (ms) this thread spent on `work` between two runs of a thread that
    wants to run every millisecond, as a device callback does."""
    parser = time.pthread_getcpuclockid(threading.get_ident())
    done, worst = threading.Event(), [0.0]

    def callback() -> None:
        last = time.clock_gettime(parser)
        while not done.is_set():
            time.sleep(0.001)
            now = time.clock_gettime(parser)
            worst[0], last = max(worst[0], now - last), now

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    thread = threading.Thread(target=callback)
    try:
        thread.start()
        time.sleep(0.005)
        work()
    finally:
        done.set()
        thread.join()
        sys.setswitchinterval(interval)
    return worst[0] * 1000


def test_a_megabyte_conversation_update_keeps_no_callback_waiting(megabyte: str) -> None:
    event = messages.parse_event(megabyte)  # (the first parse: the heap grows once)
    assert isinstance(event, messages.UnknownEvent) and event.type == "conversation-update"
    assert len(event.raw["messages"]) > 1500  # a long call: a turn is ~500 bytes, twice
    held = min(held_off(lambda: messages.parse_event(megabyte)) for _ in range(3))
    print(f"\nthe callback waited behind at most {held:.1f} ms of the parse's CPU")
    assert held < HELD_MS, f"a callback waited behind {held:.1f} ms of parsing"


def test_the_collector_is_left_as_it_was(megabyte: str) -> None:
    """Paused for a big text's parse (its objects set off collections that hold the GIL),
    on again after, also when the text is refused; left off where the program turned it off."""
    assert gc.isenabled()
    safejson.loads(megabyte)
    with pytest.raises(safejson.UnsafeJson):
        safejson.loads(megabyte[:-1])
    assert gc.isenabled()
    gc.disable()
    try:
        safejson.loads(megabyte)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_raised_recursion_limit_still_finds_nesting_past_the_stack() -> None:
    """The decoder's guard is the recursion limit: a program that raised it far (100,000
    levels overran the C stack: a segfault) has the text's depth read first, as before."""
    code = ("import sys\nfrom bridge.vapi import safejson\nsys.setrecursionlimit(200_000)\n"
            "try:\n    safejson.loads('[' * 150_000 + ']' * 150_000)\n"
            "except safejson.UnsafeJson as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "nested 150000 deep, more than 64"


def test_a_thread_with_a_small_stack_has_the_depth_read_before_parsing() -> None:
    """Off the main thread the stack may be small (musl's default is 128 KiB, and
    threading.stack_size sets any from 32 KiB): the decoder, trusted up to the recursion
    limit, overran it on a server's text 990 levels deep (a segfault)."""
    code = ("import threading\nfrom bridge.vapi import safejson\nsafejson.nesting('[]')\n"
            "threading.stack_size(128 * 1024)\n"
            "def parse():\n    try:\n        safejson.loads('[' * 990 + ']' * 990)\n"
            "    except safejson.UnsafeJson as exc:\n        print(exc)\n"
            "thread = threading.Thread(target=parse)\nthread.start()\nthread.join()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])
    assert done.stdout.strip() == "nested 990 deep, more than 64"


def _with_room(room: int, work: Callable[[], object]) -> object:
    """`work()` called with about `room` frames left under the recursion limit."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back

    def down(n: int) -> object:
        return work() if n <= 0 else down(n - 1)
    return down(sys.getrecursionlimit() - depth - room)


def _nest(n: int) -> int:
    return 0 if n == 0 else _nest(n - 1)


def test_parsed_with_the_stack_nearly_used_up_a_text_is_refused_never_raised() -> None:
    """A parse where the recursion limit is close (a program deep in its own recursion, or
    one that lowered the limit) is refused with UnsafeJson, as `loads` promises: the depth
    count that words the refusal, and the walk after parsing, raised RecursionError past it
    where the decoder had room; and a text within the bound is not called too deep for it."""
    safejson.nesting("[]")  # numpy imported: the count's own frames only
    first = next(room for room in range(1, 50)
                 if _try(lambda room=room: _with_room(room, lambda: _nest(4))))
    for room in range(first, first + 40):
        for text, depth in (("[" * 70 + "]" * 70, 70), ('{"a": [[[1]]]}', 4)):
            try:
                _with_room(room, lambda text=text: safejson.loads(text))
            except safejson.UnsafeJson as exc:
                assert depth > safejson.MAX_DEPTH or "more than" not in str(exc), exc
            except RecursionError:
                pytest.fail(f"RecursionError with {room} frames left, {depth} deep")


def _try(work: Callable[[], object]) -> bool:
    try:
        work()
    except RecursionError:
        return False
    return True
