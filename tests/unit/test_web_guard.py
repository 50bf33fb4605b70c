"""The web guard's log throttle: what a hostile client causes is one line per period with
a count; a handler's own failure is never swallowed. Who counts as one client for the
per-address share."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest
from aiohttp.http_exceptions import LineTooLong

from bridge.web.guard import Guard, Throttle, client_key


@contextlib.contextmanager
def _filters_removed(logger: logging.Logger) -> Iterator[None]:
    """The guard's filter stays on a process-wide logger: taken off after the test."""
    try:
        yield
    finally:
        for added in list(logger.filters):
            logger.removeFilter(added)


def test_parse_errors_are_throttled_but_a_handlers_failure_keeps_its_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    guard = Guard(Throttle())
    requests = guard.handler_logger
    with caplog.at_level(logging.DEBUG), _filters_removed(requests):
        for _ in range(500):
            requests.error("Error handling request", exc_info=LineTooLong("x" * 9000, "8190"))
        try:
            raise KeyError("a bug of ours")
        except KeyError:
            requests.exception("Error handling request")
    unparsed = [r for r in caplog.records if "does not parse" in r.getMessage()]
    assert len(unparsed) == 1 and unparsed[0].levelno == logging.WARNING
    assert unparsed[0].exc_info is None and "LineTooLong" in unparsed[0].getMessage()
    ours = [r for r in caplog.records if r.getMessage() == "Error handling request"]
    assert len(ours) == 1 and ours[0].levelno == logging.ERROR
    assert ours[0].exc_info is not None and ours[0].exc_info[0] is KeyError


def test_held_back_lines_are_counted_in_the_next(caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    throttle = Throttle(clock=lambda: now[0])
    with caplog.at_level(logging.INFO):
        for i in range(3000):
            throttle.log(logging.INFO, "refused", "http: refused %d", i)
        now[0] += 10
        throttle.log(logging.INFO, "refused", "http: refused %d", 3000)
    assert [r.getMessage() for r in caplog.records] == [
        "http: refused 0", "http: refused 3000 (and 2,999 more since)"]


@pytest.mark.parametrize(("peername", "client"), [
    (("192.0.2.7", 50000), "192.0.2.7"),
    (("::ffff:192.0.2.7", 50000, 0, 0), "192.0.2.7"),  # a dual-stack socket's IPv4 client
    (("2001:db8:1:2:aaaa::1", 50000, 0, 0), "2001:db8:1:2::/64"),  # one host's many
    (("2001:db8:1:2:bbbb::9", 50001, 0, 0), "2001:db8:1:2::/64"),
    (("2001:db8:1:3::1", 50000, 0, 0), "2001:db8:1:3::/64"),  # another network
    (("fe80::1%eth0", 50000, 0, 2), "fe80::/64"),
    (None, "None"),  # no address known: all such share one key, never an error
])
def test_one_client_is_an_address_or_an_ipv6_slash_64(peername: object, client: str) -> None:
    assert client_key(peername) == client
