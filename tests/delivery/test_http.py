"""The HTTP deliverer against a real local HTTP endpoint: requests, answer classification, bisected batches."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import SecretStr

from stream_app.delivery.http import Deliverer
from stream_app.delivery.outcome import Outcome, parse_retry_after
from stream_app.delivery.routers import Auth, Router
from stream_app.devstack.processes import free_port
from tests.delivery.endpoint import Endpoint, Recorded, Reply
from tests.delivery.samples import caliper_event, statement

PASSWORD = "s3cret-pa55"
SENSOR = "http://lms.example.org"


def xapi_router(url: str, **changes: Any) -> Router:
    fields: dict[str, Any] = {
        "name": "lrs", "format": "xapi", "url": url,
        "auth": Auth("basic", username="lms", password=SecretStr(PASSWORD)),
        "override_args": {"version": "1.0.0"}, "headers": {"X-Tenant": "campus"}, "timeout": 5.0,
    }
    return Router(**{**fields, **changes})


def caliper_router(url: str, **changes: Any) -> Router:
    fields: dict[str, Any] = {
        "name": "caliper", "format": "caliper", "url": url,
        "auth": Auth("bearer", token=SecretStr("tok-123")),
        "override_args": {"sensor": "http://override.example.org"}, "headers": {"X-Tenant": "campus"},
        "batch_size": 1, "timeout": 5.0,
    }
    return Router(**{**fields, **changes})


def run(test: Callable[[Endpoint], Awaitable[None]], responder: Callable[[Recorded], Reply] | None = None) -> None:
    async def main() -> None:
        async with Endpoint(responder) as endpoint:
            await test(endpoint)
    asyncio.run(main())


async def deliver(router: Router, items: list[dict[str, Any]]) -> list[Outcome]:
    deliverer = Deliverer(router, sensor=SENSOR)
    try:
        return await deliverer.deliver(items)
    finally:
        await deliverer.close()


def test_xapi_batch_is_one_post_with_headers_and_overrides() -> None:
    async def test(ep: Endpoint) -> None:
        items = [statement(i) for i in range(3)]
        outcomes = await deliver(xapi_router(ep.url + "xAPI/"), items)
        assert outcomes == [Outcome("delivered", "http_200", 200)] * 3
        [request] = ep.requests
        assert (request.method, request.path) == ("POST", "/xAPI/statements")
        assert request.json() == [{**s, "version": "1.0.0"} for s in items]
        assert request.headers["X-Experience-API-Version"] == "1.0.3"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-Tenant"] == "campus"
        assert request.headers["Authorization"].startswith("Basic ")
        assert all(s["version"] == "1.0.3" for s in items)  # the override works on copies
    run(test)


def test_retryable_answers_are_retried_with_retry_after() -> None:
    async def test(ep: Endpoint) -> None:
        router = xapi_router(ep.url)
        ep.script(Reply(503, "busy", {"Retry-After": "7"}), Reply(429, headers={"Retry-After": "120"}), 408, 500)
        items = [statement(i) for i in range(2)]
        first = await deliver(router, items)
        assert first == [Outcome("retry", "http_503", 503, "busy", 7.0)] * 2
        second = await deliver(router, items)
        assert [(o.kind, o.reason, o.retry_after) for o in second] == [("retry", "http_429", 120.0)] * 2
        assert [o.reason for o in await deliver(router, items)] == ["http_408"] * 2
        assert [o.kind for o in await deliver(router, items)] == ["retry"] * 2
    run(test)


def test_other_4xx_is_dead_with_an_excerpt_that_hides_secrets() -> None:
    async def test(ep: Endpoint) -> None:
        ep.script(Reply(401, f"bad credentials for lms:{PASSWORD} " + "x" * 1000))
        [outcome, _] = await deliver(xapi_router(ep.url), [statement(1), statement(2)])
        assert (outcome.kind, outcome.reason, outcome.status) == ("dead", "http_401", 401)
        assert outcome.body is not None and len(outcome.body) == 500
        assert PASSWORD not in outcome.body and outcome.body.startswith("bad credentials for lms:***")
        assert outcome.retry_after is None
    run(test)


def test_a_token_in_a_custom_header_is_masked_like_the_auth_secrets() -> None:
    async def test(ep: Endpoint) -> None:
        router = xapi_router(ep.url, headers={"X-API-Key": "k-98765", "X-Tenant": "campus"})
        ep.script(Reply(403, "key k-98765 is not valid for campus"))
        [outcome] = await deliver(router, [statement(1)])
        assert outcome.body == "key *** is not valid for campus"
        assert "k-98765" not in repr(router)
    run(test)


def fake_lrs(stored: dict[str, dict[str, Any]]) -> Callable[[Recorded], Reply]:
    """Refuses a whole batch like Ralph: 422 for an invalid statement, 409 for a conflicting one, 503 for "flaky"."""
    def verdict(s: dict[str, Any]) -> int:
        if "verb" not in s:
            return 422
        if s.get("flaky"):
            return 503
        if s["id"] in stored and stored[s["id"]] != s:
            return 409
        return 200

    def respond(request: Recorded) -> Reply:
        body = request.json()
        batch = body if isinstance(body, list) else [body]
        verdicts = {verdict(s) for s in batch}
        status = next((v for v in (422, 409, 503) if v in verdicts), 200)  # validation first, as in Ralph
        if status == 200:
            stored.update((s["id"], s) for s in batch)
            return Reply(200 if request.method == "POST" else 204)
        return Reply(status, f"refused ({status})")
    return respond


def test_refused_batch_is_bisected_so_good_statements_are_delivered() -> None:
    stored: dict[str, dict[str, Any]] = {}
    conflicting = statement(3)
    stored[conflicting["id"]] = {**conflicting, "result": {"score": {"raw": 1}}}
    bad = statement(5)
    del bad["verb"]

    async def test(ep: Endpoint) -> None:
        items = [statement(i) for i in range(32)]
        items[3], items[21] = conflicting, bad
        outcomes = await deliver(xapi_router(ep.url, override_args={}), items)
        assert [o.kind for o in outcomes] == ["delivered"] * 21 + ["dead"] + ["delivered"] * 10
        assert (outcomes[3].reason, outcomes[21].reason, outcomes[21].body) == ("http_409", "http_422", "refused (422)")
        assert set(stored) == {s["id"] for s in items if s is not bad}
        put_ids = {r.query["statementId"] for r in ep.requests if r.method == "PUT"}
        assert {conflicting["id"], bad["id"]} <= put_ids
        assert len(ep.requests) < len(items)  # bisection: fewer requests than one per statement
    run(test, fake_lrs(stored))


def test_a_retryable_half_only_retries_that_half() -> None:
    stored: dict[str, dict[str, Any]] = {}
    bad = statement(1)
    del bad["verb"]

    async def test(ep: Endpoint) -> None:
        items = [statement(0), bad, statement(2), {**statement(3), "flaky": True}]
        outcomes = await deliver(xapi_router(ep.url, override_args={}), items)
        assert [(o.kind, o.reason) for o in outcomes] == [
            ("delivered", "http_204"), ("dead", "http_422"), ("retry", "http_503"), ("retry", "http_503")]
    run(test, fake_lrs(stored))


def test_too_large_batch_is_split_and_redirects_are_not_followed() -> None:
    def respond(request: Recorded) -> Reply:
        body = request.json()
        if request.method == "POST" and len(body) > 2:
            return Reply(413, "too large")
        return Reply(302, headers={"Location": "/elsewhere"}) if "moved" in request.path else Reply(200)

    async def test(ep: Endpoint) -> None:
        items = [statement(i) for i in range(7)]
        outcomes = await deliver(xapi_router(ep.url), items)
        assert [o.kind for o in outcomes] == ["delivered"] * 7
        accepted = [s["id"] for r in ep.requests if r.method == "POST" and len(r.json()) <= 2 for s in r.json()]
        accepted += [r.query["statementId"] for r in ep.requests if r.method == "PUT"]
        assert sorted(accepted) == sorted(s["id"] for s in items)
        [moved] = await deliver(xapi_router(ep.url + "moved/"), [statement(1)])
        assert (moved.kind, moved.reason) == ("dead", "http_302")
        assert not any(r.path == "/elsewhere" for r in ep.requests)
    run(test, respond)


def test_timeout_and_connection_error_are_retried() -> None:
    async def test(ep: Endpoint) -> None:
        ep.script(Reply(200, delay=30))
        [timed_out] = await deliver(xapi_router(ep.url, timeout=0.2), [statement(1)])
        assert timed_out == Outcome("retry", "timeout")
        refused = await deliver(xapi_router(f"http://127.0.0.1:{free_port()}/"), [statement(1), statement(2)])
        assert refused == [Outcome("retry", "connection_error")] * 2
    run(test)


def test_single_statement_is_put_and_409_means_already_stored() -> None:
    async def test(ep: Endpoint) -> None:
        ep.script(Reply(409, "exists"))
        item = statement(1)
        [outcome] = await deliver(xapi_router(ep.url + "lrs", override_args={}), [item])
        assert (outcome.kind, outcome.reason) == ("delivered", "http_409")
        [request] = ep.requests
        assert (request.method, request.path, request.query) == ("PUT", "/lrs/statements", {"statementId": item["id"]})
        assert request.json() == item
    run(test)


def test_caliper_one_envelope_per_event_when_batch_size_is_one() -> None:
    async def test(ep: Endpoint) -> None:
        events = [caliper_event(i) for i in range(3)]
        outcomes = await deliver(caliper_router(ep.url + "caliper/in"), events)
        assert [o.kind for o in outcomes] == ["delivered"] * 3
        assert [(r.method, r.path) for r in ep.requests] == [("POST", "/caliper/in")] * 3
        envelopes = [r.json() for r in ep.requests]
        assert sorted(e["data"][0]["id"] for e in envelopes) == sorted(e["id"] for e in events)
        for env in envelopes:
            assert set(env) == {"sensor", "sendTime", "data", "dataVersion"}
            assert env["sensor"] == "http://override.example.org"
            assert env["dataVersion"] == "http://purl.imsglobal.org/ctx/caliper/v1p2"
            assert len(env["data"]) == 1
        assert ep.requests[0].headers["Authorization"] == "Bearer tok-123"
        assert ep.requests[0].headers["X-Tenant"] == "campus"
        assert "X-Experience-API-Version" not in ep.requests[0].headers
        assert ep.caliper_events() and len(ep.caliper_events()) == 3
    run(test)


def test_caliper_batch_is_one_post_of_an_array_of_envelopes_and_shares_its_outcome() -> None:
    async def test(ep: Endpoint) -> None:
        router = caliper_router(ep.url, batch_size=10, override_args={"sensor": "http://override.example.org"})
        events = [caliper_event(i) for i in range(4)]
        assert [o.kind for o in await deliver(router, events)] == ["delivered"] * 4
        [request] = ep.requests
        envelopes = request.json()
        assert isinstance(envelopes, list)  # ERB's batch shape: an array of one-event envelopes
        assert [env["data"] for env in envelopes] == [[e] for e in events]
        for env in envelopes:
            assert set(env) == {"sensor", "sendTime", "data", "dataVersion"}
            assert env["sensor"] == "http://override.example.org"
        assert ep.caliper_events() == events
        ep.script(Reply(409, "duplicate"))
        assert [(o.kind, o.reason) for o in await deliver(router, events)] == [("dead", "http_409")] * 4
    run(test)


def test_erbs_documented_sensor_id_override_adds_a_key_to_the_envelope() -> None:
    """ERB's docs example `{"sensor_id": ...}` updates the envelope's root: a new key, `sensor` unchanged."""
    async def test(ep: Endpoint) -> None:
        router = caliper_router(ep.url, override_args={"sensor_id": "https://sensor.example.org"})
        await deliver(router, [caliper_event(1)])
        envelope = ep.requests[0].json()
        assert envelope["sensor_id"] == "https://sensor.example.org" and envelope["sensor"] == SENSOR
    run(test)


def test_caliper11_events_travel_in_caliper_1_1_envelopes() -> None:
    async def test(ep: Endpoint) -> None:
        router = caliper_router(ep.url, format="caliper11", batch_size=10, override_args={})
        events = [{**caliper_event(i), "@context": "http://purl.imsglobal.org/ctx/caliper/v1p1"} for i in range(2)]
        assert [o.kind for o in await deliver(router, events)] == ["delivered"] * 2
        [request] = ep.requests
        assert {env["dataVersion"] for env in request.json()} == {"http://purl.imsglobal.org/ctx/caliper/v1p1"}
        assert ep.caliper_events() == events
    run(test)


def test_no_items_no_request_and_a_shared_session_stays_open() -> None:
    async def test(ep: Endpoint) -> None:
        async with aiohttp.ClientSession() as session:
            deliverer = Deliverer(xapi_router(ep.url), sensor=SENSOR, session=session)
            assert await deliverer.deliver([]) == []
            await deliverer.deliver([statement(1)])
            await deliverer.close()
            assert not session.closed
        assert len(ep.requests) == 1
    run(test)


def test_endpoint_serves_from_its_own_thread_for_synchronous_tests() -> None:
    with Endpoint().running() as ep:
        ep.script(Reply(202, "ok"))
        request = urllib.request.Request(ep.url + "caliper", data=b'{"data": [{"id": "e1"}]}', method="POST")
        with urllib.request.urlopen(request) as response:
            assert response.status == 202
        assert ep.caliper_events() == [{"id": "e1"}]


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("30", now) == 30.0
    assert parse_retry_after("Wed, 01 May 2024 10:02:00 GMT", now) == 120.0
    assert parse_retry_after("Wed, 01 May 2024 09:00:00 GMT", now) == 0.0
    assert parse_retry_after("-5", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
