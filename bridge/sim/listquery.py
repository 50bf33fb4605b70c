"""The query of ``GET /call`` (Vapi's ``CallController_findAll``), validated as Vapi's
NestJS pipes do: unknown keys, a bad ``limit`` or a date that is not ISO 8601 are a 400
listing every problem."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bridge.sim.calls import CallRecord

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
IDS = ("id", "assistantId", "phoneNumberId")
BOUNDS = tuple(f"{when}{op}" for when in ("createdAt", "updatedAt")
               for op in ("Gt", "Lt", "Ge", "Le"))


@dataclass
class ListQuery:
    limit: int = DEFAULT_LIMIT
    ids: dict[str, str] = field(default_factory=dict)
    bounds: dict[str, int] = field(default_factory=dict)  # BOUNDS key -> epoch milliseconds

    def matches(self, rec: CallRecord) -> bool:
        values = {"id": rec.id, "assistantId": rec.create_body.get("assistantId"),
                  "phoneNumberId": rec.create_body.get("phoneNumberId")}
        if any(values[key] != wanted for key, wanted in self.ids.items()):
            return False
        stamps = {"createdAt": _ms(rec.created_wall),
                  "updatedAt": _ms(rec.ended_wall or rec.started_wall or rec.created_wall)}
        for key, bound in self.bounds.items():
            value, op = stamps[key[:-2]], key[-2:]
            if not {"Gt": value > bound, "Lt": value < bound, "Ge": value >= bound,
                    "Le": value <= bound}[op]:
                return False
        return True


def _ms(ts: float) -> int:
    return int(ts * 1000)  # the precision of the ISO strings the API shows


def _iso_ms(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parse_list_query(query: Mapping[str, str]) -> tuple[ListQuery, list[str]]:
    out, errors = ListQuery(), []
    for key in query:
        if key not in (*IDS, "limit", *BOUNDS):
            errors.append(f"property {key} should not exist")
    for key in IDS:
        if key in query:
            out.ids[key] = query[key]
    if "limit" in query:
        try:
            limit = float(query["limit"])
        except ValueError:
            limit = math.nan
        if not math.isfinite(limit):
            errors.append("limit must be a number conforming to the specified constraints")
        else:
            if limit < 0:
                errors.append("limit must not be less than 0")
            elif limit > MAX_LIMIT:
                errors.append(f"limit must not be greater than {MAX_LIMIT}")
            else:
                out.limit = int(limit)
    for key in BOUNDS:
        if key in query:
            ms = _iso_ms(query[key])
            if ms is None:
                errors.append(f"{key} must be a valid ISO 8601 date string")
            else:
                out.bounds[key] = ms
    return out, errors
