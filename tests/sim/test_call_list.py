"""`GET /call` as Vapi's schema has it (filters, limit, newest first, NestJS 400s), and the
faults where `POST /call` creates the call but its answer never arrives."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bridge.sim import SimConfig, SimHandle, run_in_thread
from tests.sim.conftest import AUTH, ws_body


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    cfg = SimConfig(port=0, never_connected_timeout=30, http_hang_seconds=3.0)
    with run_in_thread(cfg) as handle:
        yield handle


def create(client: httpx.Client, name: str, **kw: Any) -> dict[str, Any]:
    r = client.post("/call", json={**ws_body(), "name": name}, headers=AUTH, **kw)
    assert r.status_code == 201, r.text
    return r.json()


def listed(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/call", params=params, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_list_is_newest_first_and_filters_by_creation_time(client: httpx.Client) -> None:
    before = time.time() - 0.002
    a = create(client, "list-a")
    time.sleep(0.01)
    b = create(client, "list-b")
    since = [c["id"] for c in listed(client, createdAtGt=iso(before))]
    assert since[:2] == [b["id"], a["id"]], "newest first"
    after_a = [c["id"] for c in listed(client, createdAtGt=a["createdAt"])]
    assert b["id"] in after_a and a["id"] not in after_a, "Gt is strict"
    assert a["id"] in [c["id"] for c in listed(client, createdAtGe=a["createdAt"])]
    older = [c["id"] for c in listed(client, createdAtLt=b["createdAt"])]
    assert a["id"] in older and b["id"] not in older
    assert [c["id"] for c in listed(client, id=a["id"])] == [a["id"]]
    one = listed(client, createdAtGt=iso(before), limit=1)
    assert [c["id"] for c in one] == [b["id"]]
    item = listed(client, id=b["id"])[0]
    assert item["name"] == "list-b" and item["transport"]["websocketCallUrl"]


def test_list_default_limit_is_100(client: httpx.Client) -> None:
    start = time.time() - 0.002
    for i in range(101):
        create(client, f"bulk-{i}")
    assert len(listed(client, createdAtGt=iso(start))) == 100
    assert len(listed(client, createdAtGt=iso(start), limit=1000)) == 101


@pytest.mark.parametrize(("params", "message"), [
    ({"limit": 1001}, "limit must not be greater than 1000"),
    ({"limit": -1}, "limit must not be less than 0"),
    ({"limit": "many"}, "limit must be a number conforming to the specified constraints"),
    ({"createdAtGt": "yesterday"}, "createdAtGt must be a valid ISO 8601 date string"),
    ({"name": "x"}, "property name should not exist"),
])
def test_bad_list_queries_are_400_nestjs(client: httpx.Client, params: dict[str, Any],
                                         message: str) -> None:
    r = client.get("/call", params=params, headers=AUTH)
    assert r.status_code == 400
    assert message in r.json()["message"]


def test_list_needs_the_private_key(client: httpx.Client) -> None:
    assert client.get("/call", headers={"User-Agent": "t"}).status_code == 401


@pytest.mark.parametrize("fault", ["created-hang", "created-drop", "created-500"])
def test_created_faults_create_the_call_and_lose_the_answer(client: httpx.Client,
                                                            fault: str) -> None:
    name = f"lost-{fault}"
    before = time.time() - 0.002
    try:
        r = client.post("/call", json={**ws_body(), "name": name}, headers=AUTH,
                        params={"fault": fault}, timeout=1.0)
    except httpx.TimeoutException:
        assert fault == "created-hang"
    except httpx.RemoteProtocolError:
        assert fault == "created-drop"
    else:
        assert fault == "created-500" and r.status_code == 500, r.text
    made = [c for c in listed(client, createdAtGt=iso(before)) if c["name"] == name]
    assert len(made) == 1, "the call exists although its creator never heard so"
    assert made[0]["status"] == "queued"


def test_created_fault_first_n_attempts(client: httpx.Client) -> None:
    body = {**ws_body(), "name": "lost-once"}
    first = client.post("/call", json=body, headers=AUTH, params={"fault": "created-500=1"})
    second = client.post("/call", json=body, headers=AUTH, params={"fault": "created-500=1"})
    assert (first.status_code, second.status_code) == (500, 201)
