"""A REST attempt that got no usable answer, and the one error said once the retries of a
request are spent: Vapi's side failing (it answered 5xx or 429) or the network's."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from bridge.errors import InTheWay, NetworkError, VapiFailing
from bridge.inert import inert
from bridge.vapi.net import Answer
from bridge.words import plural

IN_THE_WAY_FIX = ("a Wi-Fi login page (captive portal) or a proxy answered instead of Vapi: "
                  "log the kiosk's network in (open any web page on it), or check api.base_url")


#: What each request was for, in the words after "could not reach Vapi at HOST" (and "Vapi
#: at HOST kept failing"): "could not reach Vapi at HOST (the call)" read as a riddle
PURPOSES = {"the call": "to create the call", "the call lookup": "to look up the call",
            "the check for a created call": "to look for the call it created",
            "the assistant lookup": "to look up the assistant",
            "the key check": "to check the API key"}


def unreachable(host: str, what: str) -> str:
    """"could not reach Vapi at HOST to create the call": `what` as `_request` names it."""
    return f"could not reach Vapi at {host} {PURPOSES.get(what, f'for {what}')}"


@dataclass(frozen=True)
class Failure:
    """One attempt that got no usable answer."""

    text: str
    rate_limited: bool = False
    maybe_processed: bool = False  # the request may have reached Vapi and been acted on
    answered: bool = False  # Vapi answered (an HTTP status): not the network's fault


def gave_up(host: str, what: str, last: Failure, total: int,
            within: float | None = None) -> NetworkError:
    """After `total` attempts, the `last` failing; `within`: the seconds they took, when
    `api.create_within_seconds` cut them short."""
    tried = plural(total, "attempt") + (f" in {within:.0f} s (api.create_within_seconds)"
                                        if within is not None else "")
    if last.answered:  # Vapi answered (5xx, 429): its side failed, not the network
        return VapiFailing(f"Vapi at {host} kept failing {PURPOSES.get(what, f'for {what}')}"
                           f": {last.text} after {tried} — the fault is on Vapi's side, not "
                           f"the network; try again later")
    cause, _, fix = last.text.partition(" — ")  # a cause that says its own fix keeps it
    return NetworkError(f"{unreachable(host, what)}: {cause} after {tried} — "
                        f"{fix or 'check the network and api.base_url'}")


def in_the_way(answer: Answer, method: str, path: str) -> InTheWay | None:
    """An answer Vapi's API never gives, which a captive portal or a proxy between us does:
    a redirect (3xx), 511 Network Authentication Required, or a web page where JSON was
    due. Not retried (the same page comes back) and no profile error: the kiosk stays up,
    and the next call goes through once the network is logged in."""
    status = answer.status
    if 300 <= status < 400 or status == 511:
        try:  # server text: a Location urlsplit cannot take is no host to name
            host = urlsplit(answer.location).hostname if answer.location else None
        except ValueError:
            host = None
        where = f" to {inert(host, 80)}" if host else ""
        what = "redirected" if status != 511 else "a network login is required"
        return InTheWay(f"{method} {path}: {what} (HTTP {status}){where} — {IN_THE_WAY_FIX}")
    if status < 300 and answer.body.lstrip()[:1] == b"<":  # JSON never starts with '<'
        return InTheWay(f"{method} {path}: the answer was a web page, not Vapi's JSON — "
                        f"{IN_THE_WAY_FIX}")
    return None
