"""The HTTP deliverer against a real Ralph LRS: batches stored, refused batches bisected, outages retried."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import SecretStr

from stream_app.delivery.http import Deliverer
from stream_app.delivery.outcome import Outcome
from stream_app.delivery.routers import Auth, Router
from stream_app.devstack.ralph import Ralph
from stream_app.metrics import REGISTRY
from tests.delivery.samples import invalid_statement, statement


def router(ralph: Ralph, password: str | None = None) -> Router:
    auth = Auth("basic", username=ralph.username, password=SecretStr(password or ralph.password))
    return Router(name="ralph", format="xapi", url=ralph.url, auth=auth, timeout=10.0)


def deliver(ralph: Ralph, items: list[dict[str, Any]], password: str | None = None) -> list[Outcome]:
    async def main() -> list[Outcome]:
        deliverer = Deliverer(router(ralph, password), sensor="http://lms.example.org")
        try:
            return await deliverer.deliver(items)
        finally:
            await deliverer.close()
    return asyncio.run(main())


def test_batch_is_stored_and_redelivery_is_a_no_op(ralph: Ralph) -> None:
    items = [statement(i) for i in range(20)]
    assert {o.kind for o in deliver(ralph, items)} == {"delivered"}
    assert ralph.statement_ids() == [s["id"] for s in items]
    assert {o.kind for o in deliver(ralph, items)} == {"delivered"}
    assert len(ralph.statement_ids()) == 20


def test_invalid_and_conflicting_statements_do_not_lose_the_others(ralph: Ralph) -> None:
    stored = statement(7)
    assert deliver(ralph, [stored])[0].kind == "delivered"
    conflicting = {**stored, "result": {"completion": True}}
    items = [statement(i) for i in range(10)]
    items[2], items[7] = invalid_statement(2), conflicting
    outcomes = deliver(ralph, items)
    assert [o.kind for o in outcomes] == ["delivered"] * 2 + ["dead"] + ["delivered"] * 7
    assert outcomes[2].status is not None and 400 <= outcomes[2].status < 500 and outcomes[2].body
    assert (outcomes[7].kind, outcomes[7].reason) == ("delivered", "http_409")
    expected = {s["id"] for i, s in enumerate(items) if i != 2}
    assert set(ralph.statement_ids()) == expected
    assert len(ralph.statement_ids()) == len(expected)


def test_bad_credentials_are_dead(ralph: Ralph) -> None:
    [outcome] = deliver(ralph, [statement(1)], password="wrong")
    assert (outcome.kind, outcome.reason, outcome.status) == ("dead", "http_401", 401)
    assert ralph.statement_ids() == []


def test_lrs_down_for_a_while(ralph: Ralph) -> None:
    first = [statement(i) for i in range(5)]
    assert {o.kind for o in deliver(ralph, first)} == {"delivered"}
    ralph.stop()
    later = [statement(i) for i in range(5, 10)]
    assert deliver(ralph, later) == [Outcome("retry", "connection_error")] * 5
    ralph.start()
    assert {o.kind for o in deliver(ralph, later)} == {"delivered"}
    assert ralph.statement_ids() == [s["id"] for s in first + later]


def test_repeats_and_a_same_id_conflict_in_one_batch_are_settled_in_few_requests(ralph: Ralph) -> None:
    def answers() -> float:
        return sum(s.value for metric in REGISTRY.collect() if metric.name == "stream_app_lrs_responses"
                   for s in metric.samples if s.name.endswith("_total") and s.labels["router"] == "ralph")

    items = [statement(i, tag="repeats") for i in range(60)]
    conflicting = {**items[20], "result": {"completion": True}}
    # A crash replay (identical repeats of a third of the batch) and another body under one of its ids.
    batch = items[:40] + [dict(s) for s in items[:20]] + [conflicting] + items[40:]
    before = answers()
    outcomes = deliver(ralph, batch)
    assert [o.kind for o in outcomes] == ["delivered"] * len(batch)
    assert outcomes[60].status == 409  # Ralph kept the first body of that id
    stored = ralph.statement_ids()
    assert sorted(stored) == sorted(s["id"] for s in items)  # every statement once, none twice
    assert answers() - before == 2  # one POST for the batch, one PUT for the conflicting body
