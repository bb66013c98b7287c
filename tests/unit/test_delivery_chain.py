"""The retry chain's rules: tiers, due times, Retry-After, dead-lettering, header round trips."""

from __future__ import annotations

import pytest

from stream_app.delivery.chain import META_HEADER, RetryMeta, after_failure, chain_headers, headers_dict
from stream_app.ops.redrive import Stats, parse_when, selector
from stream_app.topics import DEFAULT_FILE, TopicsFileError, concrete, load_topics, retry_topic

DELAYS = (30.0, 300.0, 1800.0)


def test_a_retryable_failure_climbs_one_tier_per_attempt_then_dies() -> None:
    meta = RetryMeta("lrs")
    steps = []
    for now in (100.0, 200.0, 600.0, 3000.0):
        step = after_failure(meta, "http_503", DELAYS, retryable=True, now=now)
        steps.append(step)
        meta = step.meta
    assert [s.tier for s in steps] == [1, 2, 3, None]
    assert [s.meta.due for s in steps[:3]] == [130.0, 500.0, 2400.0]
    last = steps[-1].meta
    assert (last.attempts, last.first_failed, last.last_failed) == (4, 100.0, 3000.0)


def test_a_permanent_failure_goes_straight_to_dead_letter_with_its_error() -> None:
    step = after_failure(RetryMeta("lrs"), "http_400", DELAYS, retryable=False, now=1.0)
    assert step.dead and step.meta.attempts == 1 and step.meta.first_error == step.meta.last_error == "http_400"


def test_retry_after_longer_than_the_delay_wins_and_first_error_is_kept() -> None:
    first = after_failure(RetryMeta("lrs"), "http_429", DELAYS, retryable=True, retry_after=120.0, now=0.0)
    assert first.meta.due == 120.0
    second = after_failure(first.meta, "timeout", DELAYS, retryable=True, retry_after=1.0, now=200.0)
    assert second.meta.due == 500.0
    assert (second.meta.first_error, second.meta.last_error) == ("http_429", "timeout")


def test_no_retry_delays_means_dead_letter_on_the_first_failure() -> None:
    assert after_failure(RetryMeta("lrs"), "http_503", (), retryable=True, now=0.0).dead


def test_meta_round_trips_through_headers_and_garbage_gives_a_fresh_history() -> None:
    meta = after_failure(RetryMeta("lrs"), "http_503", DELAYS, retryable=True, now=5.0).meta
    headers = headers_dict(chain_headers(b'{"name":"x"}', meta))
    assert RetryMeta.decode(headers[META_HEADER], "lrs") == meta
    assert headers["openedx.event"] == b'{"name":"x"}'
    assert RetryMeta.decode(b"not json", "lrs") == RetryMeta("lrs")
    assert RetryMeta.decode(None, "lrs") == RetryMeta("lrs")


def test_retry_topics_expand_per_router_and_tier_and_templates_are_validated(tmp_path: object) -> None:
    specs = load_topics(DEFAULT_FILE)
    assert retry_topic(specs, "campus-lrs", 2).name == "stream_app.retry.campus-lrs.2"
    names = {s.name for s in concrete(specs, [("a", 2)])}
    assert {"stream_app.retry.a.1", "stream_app.retry.a.2"} <= names
    assert not any("{" in n for n in names)
    bad = DEFAULT_FILE.read_text().replace("stream_app.retry.{router}.{tier}", "stream_app.retry.{router}")
    path = tmp_path / "topics.yaml"  # type: ignore[operator]
    path.write_text(bad)
    with pytest.raises(TopicsFileError, match=r"\{tier\}"):
        load_topics(path)


def test_dead_letter_selection_and_stats() -> None:
    records = [
        {"stage": "deliver", "router": "lrs", "reason": "http_400", "time": "2026-11-22T10:00:00+00:00"},
        {"stage": "deliver", "router": "lrs", "reason": "http_503", "time": "2026-11-22T11:00:00+00:00"},
        {"stage": "deliver", "router": "other", "reason": "http_400", "time": "2026-11-22T11:00:00+00:00"},
        {"stage": "enrich", "reason": "unknown_user", "time": "2026-11-22T11:00:00+00:00"},
    ]
    take = selector("lrs", "http_4", None, "deliver")
    assert [r["reason"] for r in records if take(r)] == ["http_400"]
    since = parse_when("2026-11-22T10:30:00Z")
    assert sum(selector(None, None, since, "deliver")(r) for r in records) == 2
    assert [r["reason"] for r in records if selector(None, None, None, "enrich")(r)] == ["unknown_user"]
    stats = Stats()
    now = parse_when("2026-11-22T11:30:00Z")
    for record in records:
        stats.add(record, now)
    out = stats.as_dict()
    assert out["lrs"] == {"total": 2, "reasons": {"http_400": 1, "http_503": 1}, "ages": {"<1d": 1, "<1h": 1}}
    assert out["stage:enrich"]["total"] == 1
    assert parse_when("2h", now=10_000.0) == 10_000.0 - 7200


def test_a_sender_that_raises_sends_the_whole_batch_along_the_chain_instead_of_stopping_the_agent() -> None:
    import asyncio

    from stream_app.delivery.chain import guarded
    from stream_app.delivery.outcome import Outcome

    async def broken() -> list[Outcome]:
        raise ValueError("statement is not an object")

    async def short() -> list[Outcome]:
        return [Outcome("delivered", "ok")]

    async def fine() -> list[Outcome]:
        return [Outcome("delivered", "ok"), Outcome("dead", "http_400", 400)]

    out = asyncio.run(guarded(broken(), 3, "lrs"))
    assert [(o.kind, o.reason) for o in out] == [("retry", "internal_error:ValueError")] * 3
    assert [o.reason for o in asyncio.run(guarded(short(), 2, "lrs"))] == ["internal_error:outcome_count"] * 2
    assert [o.kind for o in asyncio.run(guarded(fine(), 2, "lrs"))] == ["delivered", "dead"]
