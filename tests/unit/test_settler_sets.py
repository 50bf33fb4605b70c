"""The spending settler keeps what it knows of a call only while the call is on the day's
open list (`Settler._look`): a daemon on a flaky link loses calls day after day, and the
ids of those handed to it (`lost`) were kept for its whole life, each, once counted or
left off the list (it holds `MAX_OPEN`). The real settler and totals, no API (nothing to
ask); a look takes milliseconds."""

from __future__ import annotations

import asyncio

from bridge.service.cut_off import Settler
from bridge.service.day_totals import MAX_OPEN, OpenCall, Totals


def test_lost_calls_off_the_open_list_are_not_kept() -> None:
    totals = Totals("2026-12-06")
    settler = Settler(lambda: totals, lambda _: None, lambda: None, lambda: None,
                      lambda: None)  # type: ignore[arg-type,return-value]
    for k in range(MAX_OPEN + 40):  # each lost with its link, its cost open
        totals.opened(OpenCall(f"call-{k:04d}", seconds=3.0))
        settler.lost(f"call-{k:04d}")
    totals.take(f"call-{MAX_OPEN + 39:04d}")  # counted since
    asyncio.run(settler._look())
    kept = set(settler._lost)  # (what the settler ends through the controlUrl when Vapi answers)
    assert kept == {entry.id for entry in totals.open}, len(kept)
    assert len(kept) == MAX_OPEN - 1
