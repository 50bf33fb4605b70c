"""A REST attempt that got no usable answer, and the one error said once the retries of a
request are spent: Vapi's side failing (it answered 5xx or 429) or the network's."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.errors import NetworkError, VapiFailing
from bridge.words import plural


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
        return VapiFailing(f"Vapi at {host} kept failing ({what}): {last.text} after {tried} "
                           f"— the fault is on Vapi's side, not the network; try again later")
    cause, _, fix = last.text.partition(" — ")  # a cause that says its own fix keeps it
    return NetworkError(f"could not reach Vapi at {host} ({what}): {cause} after {tried} — "
                        f"{fix or 'check the network and api.base_url'}")
