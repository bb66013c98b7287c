"""Repeated statement ids within a batch, and how many requests a refused batch costs (counted at a real endpoint).

The endpoint answers like Ralph 5.1: 400 for a batch that holds an id twice, 422
for an invalid statement, 409 for an id it stores with another body, and it
keeps an identical repeat once. The request counts are asserted against the
bounds `delivery/http.py` documents.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from prometheus_client import generate_latest

from stream_app.delivery.http import plan
from stream_app.devstack.processes import free_port
from stream_app.metrics import REGISTRY
from tests.delivery.endpoint import Recorded, Reply
from tests.delivery.samples import caliper_event, invalid_statement, statement
from tests.delivery.test_http import caliper_router, deliver, run, xapi_router


def ralph_like(stored: dict[str, dict[str, Any]]) -> Callable[[Recorded], Reply]:
    def respond(request: Recorded) -> Reply:
        body = request.json()
        batch = body if isinstance(body, list) else [body]
        ids = [s["id"] for s in batch]
        if len(ids) != len(set(ids)):
            return Reply(400, "Duplicate IDs in the list of statements")
        if any("verb" not in s for s in batch):
            return Reply(422, "invalid statement")
        if any(s["id"] in stored and stored[s["id"]] != s for s in batch):
            return Reply(409, "Differing statements already exist with the same ID")
        stored.update((s["id"], s) for s in batch)
        return Reply(200 if request.method == "POST" else 204)
    return respond


def bisection_bound(bad: int, size: int) -> int:
    return 1 + 2 * bad * math.ceil(math.log2(size))


def test_plan_sends_identical_repeats_once_and_other_bodies_alone() -> None:
    a, b = statement(1), statement(2)
    other_a = {**a, "result": {"completion": True}}
    no_id = {k: v for k, v in statement(3).items() if k != "id"}
    third_a = {**a, "result": {"completion": False}}
    how = plan([a, b, dict(a), other_a, no_id, dict(no_id), dict(other_a), b, third_a, {**b, "version": "1.0.0"}])
    assert how.batch == [0, 1, 4, 5]  # items without an id are never grouped
    assert how.rounds == [[3, 9], [8]]  # the second body of a and of b, then the third of a
    assert how.first == {3: 0, 9: 1, 8: 0}
    assert how.same == {2: 0, 6: 3, 7: 1}


def test_identical_repeats_are_delivered_once_and_all_counted_delivered() -> None:
    stored: dict[str, dict[str, Any]] = {}

    async def test(ep: Any) -> None:
        # A crash replay: the batch's second half repeats its first half.
        first = [statement(i) for i in range(50)]
        items = first + [dict(s) for s in first]
        outcomes = await deliver(xapi_router(ep.url, override_args={}), items)
        assert [o.kind for o in outcomes] == ["delivered"] * 100
        [request] = ep.requests  # one POST: no 400, no bisection
        assert [s["id"] for s in request.json()] == [s["id"] for s in first]
        assert set(stored) == {s["id"] for s in first}
    run(test, ralph_like(stored))


def test_a_same_id_different_body_pair_costs_no_other_statement_anything() -> None:
    stored: dict[str, dict[str, Any]] = {}

    async def test(ep: Any) -> None:
        items = [statement(i) for i in range(40)]
        conflicting = {**items[10], "result": {"score": {"raw": 3}}}
        items.insert(30, conflicting)
        outcomes = await deliver(xapi_router(ep.url, override_args={}), items)
        assert [o.kind for o in outcomes] == ["delivered"] * 41
        assert outcomes[30].reason == "http_409"  # the LRS kept the first body and says so
        assert [(r.method, len(r.json()) if r.method == "POST" else 1) for r in ep.requests] == [("POST", 40),
                                                                                                 ("PUT", 1)]
        assert ep.requests[1].query == {"statementId": conflicting["id"]}
        assert stored[conflicting["id"]] == items[10]
        assert len(stored) == 40
    run(test, ralph_like(stored))


def test_many_conflicts_in_a_batch_cost_one_request_more() -> None:
    stored: dict[str, dict[str, Any]] = {}

    async def test(ep: Any) -> None:
        items = [statement(i) for i in range(70)]
        others = [{**items[i], "result": {"score": {"raw": i}}} for i in range(0, 70, 7)]
        outcomes = await deliver(xapi_router(ep.url, override_args={}), items + others)
        assert [o.kind for o in outcomes] == ["delivered"] * 80
        assert {o.status for o in outcomes[70:]} == {409}
        assert [len(r.json()) for r in ep.requests] == [70, 10]  # the batch, then the round of other bodies
        assert stored == {s["id"]: s for s in items}  # the LRS kept the first bodies
    run(test, ralph_like(stored))


def test_a_round_with_an_invalid_body_is_bisected_like_a_batch() -> None:
    stored: dict[str, dict[str, Any]] = {}

    async def test(ep: Any) -> None:
        items = [statement(i) for i in range(16)]
        invalid_other = {k: v for k, v in items[3].items() if k != "verb"}
        others = [{**items[i], "result": {"success": True}} for i in range(0, 16, 2) if i != 2] + [invalid_other]
        outcomes = await deliver(xapi_router(ep.url, override_args={}), items + others)
        assert [o.kind for o in outcomes] == ["delivered"] * (16 + len(others) - 1) + ["dead"]
        assert len(ep.requests) <= 1 + bisection_bound(1, len(others))
        assert stored == {s["id"]: s for s in items}
    run(test, ralph_like(stored))


def test_one_bad_statement_in_100_costs_about_2_log2_100_requests() -> None:
    stored: dict[str, dict[str, Any]] = {}

    async def test(ep: Any) -> None:
        items = [statement(i) for i in range(100)]
        items[37] = invalid_statement(37)
        outcomes = await deliver(xapi_router(ep.url, override_args={}), items)
        assert [o.kind for o in outcomes] == ["delivered"] * 37 + ["dead"] + ["delivered"] * 62
        assert len(stored) == 99
        assert len(ep.requests) <= bisection_bound(1, 100) == 15
    run(test, ralph_like(stored))


def requests_for(size: int, bad: int) -> int:
    """Requests the deliverer sends for a batch of `size` with `bad` invalid statements spread over it."""
    stored: dict[str, dict[str, Any]] = {}
    requests: list[int] = []

    async def test(ep: Any) -> None:
        items = [statement(i, tag=f"n{size}") for i in range(size)]
        for k in range(bad):
            items[(k * 37 + 11) % size] = invalid_statement(k)
        outcomes = await deliver(xapi_router(ep.url, override_args={}), items)
        assert sum(o.kind == "dead" for o in outcomes) == bad
        assert len(stored) == size - bad
        requests.append(len(ep.requests))
    run(test, ralph_like(stored))
    return requests[0]


def test_requests_grow_with_the_bad_statements_not_with_the_batch() -> None:
    for size, bad in ((100, 3), (400, 3), (400, 10)):
        assert requests_for(size, bad) <= bisection_bound(bad, size)
    # The same three bad statements in a batch four times as large: a few requests more, not four times as many.
    assert requests_for(400, 3) <= requests_for(100, 3) + 3 * 2 * 2


def test_repeats_and_a_conflict_together_with_a_bad_statement() -> None:
    stored: dict[str, dict[str, Any]] = {}

    async def test(ep: Any) -> None:
        items = [statement(i) for i in range(64)]
        items += [dict(items[5]), {**items[6], "result": {"success": False}}, invalid_statement(99)]
        outcomes = await deliver(xapi_router(ep.url, override_args={}), items)
        assert [o.kind for o in outcomes] == ["delivered"] * 66 + ["dead"]
        assert len(stored) == 64 and stored[items[6]["id"]] == items[6]
        assert len(ep.requests) <= bisection_bound(1, 65) + 1  # the bisection plus the conflict's own PUT
    run(test, ralph_like(stored))


def test_caliper_repeats_are_sent_once_and_a_conflict_alone() -> None:
    async def test(ep: Any) -> None:
        events = [caliper_event(i) for i in range(5)]
        conflict = {**events[2], "action": "NavigatedAway"}
        items = [*events, dict(events[0]), conflict]
        batched = await deliver(caliper_router(ep.url, batch_size=10), items)
        assert [o.kind for o in batched] == ["delivered"] * 7
        assert [len(r.json()) for r in ep.requests] == [5, 1]  # the batch's array, then the conflict's own
        assert ep.caliper_events() == [*events, conflict]
        ep.requests.clear()
        single = await deliver(caliper_router(ep.url, batch_size=1), items)
        assert [o.kind for o in single] == ["delivered"] * 7
        assert len(ep.requests) == 6  # one envelope per distinct body
    run(test)


def test_every_answer_is_counted_by_router_and_status() -> None:
    def sample(router: str, status: str) -> float:
        value = REGISTRY.get_sample_value("stream_app_lrs_responses_total", {"router": router, "status": status})
        return value or 0.0

    async def test(ep: Any) -> None:
        ep.script(Reply(503), 200, Reply(400), 204, 204)
        router = xapi_router(ep.url, name="counted")
        before = {s: sample("counted", s) for s in ("200", "204", "400", "503", "error")}
        await deliver(router, [statement(1)])  # 503
        await deliver(router, [statement(1), statement(2)])  # 200
        await deliver(router, [statement(3), statement(4)])  # 400, then two PUTs answered 204
        await deliver(xapi_router(f"http://127.0.0.1:{free_port()}/", name="counted"), [statement(1)])
        after = {s: sample("counted", s) - before[s] for s in before}
        assert after == {"200": 1, "204": 2, "400": 1, "503": 1, "error": 1}
        text = generate_latest(REGISTRY).decode()
        assert 'stream_app_lrs_responses_total{router="counted",status="error"}' in text
    run(test)
