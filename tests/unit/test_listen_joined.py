"""How far into the call `listen` says it joined, from the daemon's answer: its count of
audio sent when asked, plus the wait for the first audio. An answer without a usable
count (missing, not a number, negative, NaN or infinite: `json` parses those) gives no
line rather than a false figure."""

from __future__ import annotations

import pytest

from bridge.cli.listen import Target, joined_s


def test_joined_is_the_count_when_asked_plus_the_wait() -> None:
    target = Target(url="ws://x", monitor={"sentSeconds": 12.0}, asked_at=100.0)
    assert joined_s(target, 100.4) == pytest.approx(12.4)


@pytest.mark.parametrize("sent", [None, "12", True, -1.0, float("nan"), float("inf")])
def test_an_answer_without_a_usable_count_says_nothing(sent: object) -> None:
    monitor = {} if sent is None else {"sentSeconds": sent}
    assert joined_s(Target(url="ws://x", monitor=monitor, asked_at=1.0), 2.0) is None
