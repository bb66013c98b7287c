"""Delivery end to end: real broker, real workers, a real Ralph LRS, a real HTTP endpoint and a real SMTP server.

Each test writes a routers file for its stack, starts workers, feeds the sample
CDC snapshot and tracking events, and checks what the LRS stored (by
statement id), what the endpoints received, what reached the dead-letter
topic, and which mails were sent.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiosmtpd.controller import Controller

from stream_app.devstack.processes import free_port, worker_env
from stream_app.devstack.ralph import Ralph
from tests.delivery.endpoint import Endpoint, Recorded, Reply
from tests.integration.stack import Stack, wait_until, web_json
from tests.integration.test_topology import CDC, EVENTS, cli_output, wait_for_cdc

FAST_RETRIES = ["1s", "2s", "3s"]


class Mailbox:
    """An aiosmtpd handler keeping every message."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 — aiosmtpd's name
        with self._lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def subjects(self) -> list[str]:
        with self._lock:
            return [str(m["Subject"]) for m in self.messages]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def write_routers(stack: Stack, routers: list[dict[str, Any]], **env: str) -> None:
    path = stack.tmp / "routers.yaml"
    path.write_text(yaml.safe_dump({"routers": routers}))
    stack.env.update({"STREAM_APP_ROUTERS_FILE": str(path), **env})


def start_with_data(stack: Stack, events: list[bytes] = EVENTS) -> int:
    _, port = stack.start_worker("w1")
    stack.produce_cdc(CDC)
    wait_for_cdc([port])
    wait_until(lambda: web_json(port, "/stream-app/tables/")["courses"] == 4)
    stack.produce_tracking(events)
    return port


def event_name(line: bytes) -> str:
    event = orjson.loads(line)
    return str(event.get("name") or event.get("event_type"))


def statements_of(requests: list[Recorded]) -> list[dict[str, Any]]:
    """Statements received: POST bodies are arrays, a single statement comes as `PUT ?statementId=`."""
    out: list[dict[str, Any]] = []
    for request in requests:
        body = request.json()
        out.extend(body if isinstance(body, list) else [body])
    return out


def cli(stack: Stack, *args: str) -> Any:
    env = worker_env(stack.bootstrap, stack.registry_url, stack.tmp / "cli", 0, stack.env)
    out = subprocess.run([sys.executable, "-m", "stream_app", *args], env=env, check=True, capture_output=True,
                         timeout=120).stdout
    return orjson.loads(out)


def test_statements_reach_every_matching_router_once_with_overrides_headers_and_auth(
        stack: Stack, ralph: Ralph, tmp_path: Path) -> None:
    def problems_only(request: Recorded) -> Reply:
        return Reply(200, b"[]")

    with Endpoint().running() as caliper, Endpoint(problems_only).running() as problems:
        write_routers(stack, [
            {"name": "lrs", "format": "xapi", "url": ralph.url, "retry_delays": FAST_RETRIES,
             "auth": {"type": "basic", "username": ralph.username, "password": "${TEST_LRS_PASSWORD}"},
             "batch": {"size": 50, "max_wait": "200ms"}},
            # ERB's documented example: events of one org whose name starts with problem, or showanswer.
            {"name": "problems", "format": "xapi", "url": problems.url + "xapi/",
             "match_params": {"context.org_id": "^edX$", "name": ["^problem", "showanswer"]},
             "override_args": {"version": "1.0.3"}, "batch": {"size": 1000, "max_wait": "200ms"}},
            {"name": "caliper", "format": "caliper", "url": caliper.url + "caliper", "batch": {"size": 1},
             "auth": {"type": "bearer", "token": "${TEST_CALIPER_TOKEN}"}, "headers": {"X-Tenant": "campus"},
             "override_args": {"sensor": "https://analytics.example.org/sensor"}},
        ], TEST_LRS_PASSWORD=ralph.password, TEST_CALIPER_TOKEN="s3cret", STREAM_APP_STATEMENT_LOG="xapi")
        port = start_with_data(stack)
        want = cli_output("xapi", CDC, EVENTS, tmp_path)
        want_caliper = cli_output("caliper", CDC, EVENTS, tmp_path)
        selected = [e for e in EVENTS if re.search("^problem|showanswer", event_name(e))]
        want_problems = cli_output("xapi", CDC, selected, tmp_path)

        wait_until(lambda: len(ralph.statement_ids()) >= len(want), timeout=120)
        wait_until(lambda: len(caliper.caliper_events()) >= len(want_caliper), timeout=60)
        wait_until(lambda: len(statements_of(problems.requests)) >= len(want_problems), timeout=60)
        stored = ralph.statement_ids()
        assert sorted(stored) == sorted(w["id"] for w in want)  # exactly N, none twice

        requests = caliper.requests
        assert {r.headers.get("Authorization") for r in requests} == {"Bearer s3cret"}
        assert {r.headers.get("X-Tenant") for r in requests} == {"campus"}
        assert {r.json()["sensor"] for r in requests} == {"https://analytics.example.org/sensor"}
        assert {r.json()["dataVersion"] for r in requests} == {"http://purl.imsglobal.org/ctx/caliper/v1p2"}
        assert sorted(e["action"] for e in caliper.caliper_events()) == sorted(e["action"] for e in want_caliper)

        posted = statements_of(problems.requests)
        assert sorted(s["id"] for s in posted) == sorted(w["id"] for w in want_problems)
        assert {s["version"] for s in posted} == {"1.0.3"}
        assert {r.headers.get("X-Experience-API-Version") for r in problems.requests} == {"1.0.3"}
        assert "Authorization" not in problems.requests[0].headers

        # ERB's xapi_tracking logger, switched on: one line per delivered statement.
        logged = stack.workers[0].log.read_text(errors="replace")
        assert all(w["id"] in logged for w in want)
        # The counters follow the requests: the last batches may still be settling when the requests are in.
        filtered = len(want) - len(want_problems)
        view = wait_until(lambda: (v := web_json(port, "/stream-app/routers/"))["lrs"]["delivered"] >= len(want)
                          and v["problems"]["filtered"] >= filtered and v, timeout=30)
        assert view["lrs"]["delivered"] == len(want) and view["lrs"]["dead_lettered"] == 0
        assert view["problems"]["filtered"] == filtered


def test_lrs_down_for_a_while_loses_nothing_and_mails_once_then_recovers(
        stack: Stack, ralph: Ralph, tmp_path: Path, smtp: tuple[Mailbox, int]) -> None:
    box, smtp_port = smtp
    write_routers(stack, [
        {"name": "lrs", "format": "xapi", "url": ralph.url, "retry_delays": ["1s", "2s", "4s", "8s", "16s"],
         "auth": {"type": "basic", "username": ralph.username, "password": ralph.password},
         "batch": {"size": 50, "max_wait": "200ms"}, "timeout": "2s"},
    ], STREAM_APP_SMTP_HOST="127.0.0.1", STREAM_APP_SMTP_PORT=str(smtp_port),
        STREAM_APP_ALERT_TO="ops@example.org", STREAM_APP_ALERT_WINDOW="15m")
    ralph.stop()
    port = start_with_data(stack, EVENTS[: len(EVENTS) // 2])
    want = cli_output("xapi", CDC, EVENTS, tmp_path)
    wait_until(lambda: len(box.subjects()) >= 1, timeout=60)
    down = web_json(port, "/stream-app/routers/")["lrs"]
    assert down["retrying"] > 0 and down["delivered"] == 0 and down["last_success"] is None
    assert down["last_error"] == "connection_error"
    stack.produce_tracking(EVENTS[len(EVENTS) // 2:])  # events keep coming while the LRS is down
    ralph.start()
    wait_until(lambda: len(ralph.statement_ids()) >= len(want), timeout=120)
    wait_until(lambda: len(box.subjects()) >= 2, timeout=30)
    stored = ralph.statement_ids()
    assert sorted(stored) == sorted(w["id"] for w in want)
    subjects = box.subjects()
    assert len(subjects) == 2, subjects
    assert "lrs is failing" in subjects[0] and "lrs delivers again" in subjects[1], subjects
    view = wait_until(lambda: (v := web_json(port, "/stream-app/routers/")["lrs"])["in_retry_topics"] == 0
                      and v["delivered"] >= len(want) and v)
    assert view["dead_lettered"] == 0 and view["delivered"] >= len(want) and view["last_success"] is not None


def test_refused_statements_go_to_dead_letter_and_redrive_delivers_them(stack: Stack, tmp_path: Path) -> None:
    want = cli_output("xapi", CDC, EVENTS, tmp_path)
    bad = {w["id"] for w in want[:3]}
    accepted: set[str] = set()
    fixed = threading.Event()

    def lrs(request: Recorded) -> Reply:
        body = request.json()
        statements = body if isinstance(body, list) else [body]
        if not fixed.is_set() and any(s["id"] in bad for s in statements):
            return Reply(400, b'{"message": "statement refused by policy"}')
        accepted.update(s["id"] for s in statements)
        return Reply(200, orjson.dumps([s["id"] for s in statements]))

    with Endpoint(lrs).running() as endpoint:
        write_routers(stack, [{"name": "strict", "format": "xapi", "url": endpoint.url, "retry_delays": FAST_RETRIES,
                               "batch": {"size": 100, "max_wait": "200ms"}}])
        start_with_data(stack)
        wait_until(lambda: accepted >= {w["id"] for w in want} - bad, timeout=90)
        dead = stack.read("dead_letter", len(bad), timeout=30, settle=1.0,
                          done=lambda rs: {r.get("statement", {}).get("id") for r in rs
                                           if r.get("stage") == "deliver"} >= bad)
        delivery = [d for d in dead if d.get("stage") == "deliver"]
        assert {d["statement"]["id"] for d in delivery} == bad
        assert {d["reason"] for d in delivery} == {"http_400"} and {d["router"] for d in delivery} == {"strict"}
        assert all("refused by policy" in d["response"] and d["attempts"] == 1 for d in delivery)
        assert not accepted & bad

        stats = cli(stack, "dead-letter", "stats")
        assert stats["strict"]["reasons"] == {"http_400": len(bad)}
        fixed.set()  # the cause is fixed: re-drive
        assert cli(stack, "dead-letter", "redrive", "--router", "strict")["sent"] == {"strict": len(bad)}
        wait_until(lambda: accepted >= bad, timeout=60)
        before = len(accepted)
        # An LRS backfill: re-deliver the last hour to the router; deterministic ids make repeats harmless.
        assert cli(stack, "redeliver", "--router", "strict", "--since", "1h")["records"] == len(want)
        wait_until(lambda: len(statements_of(endpoint.requests)) >= 2 * len(want), timeout=60)
        assert len(accepted) == before == len(want)


def test_retries_never_hold_up_the_routers_fresh_traffic(stack: Stack, tmp_path: Path) -> None:
    first_half, second_half = EVENTS[:40], EVENTS[40:]
    early = {w["id"] for w in cli_output("xapi", CDC, first_half, tmp_path)}
    late = {w["id"] for w in cli_output("xapi", CDC, second_half, tmp_path)}
    accepted: set[str] = set()
    down = threading.Event()
    down.set()

    def lrs(request: Recorded) -> Reply:
        statements = request.json() if isinstance(request.json(), list) else [request.json()]
        if down.is_set():
            return Reply(503, b"maintenance")
        accepted.update(s["id"] for s in statements)
        return Reply(200, orjson.dumps([s["id"] for s in statements]))

    with Endpoint(lrs).running() as endpoint:
        write_routers(stack, [{"name": "lrs", "format": "xapi", "url": endpoint.url, "retry_delays": ["10m"],
                               "batch": {"size": 100, "max_wait": "200ms"}}])
        port = start_with_data(stack, first_half)
        wait_until(lambda: web_json(port, "/stream-app/routers/")["lrs"]["retrying"] >= len(early), timeout=90)
        down.clear()  # the LRS is back, while the first half waits out its 10 min delay in the retry topic
        stack.produce_tracking(second_half)
        wait_until(lambda: accepted >= late, timeout=60)
        assert not accepted & early  # still waiting for their turn, and the fresh statements did not wait for them
        # The counters follow the answers: the last batch may still be settling when its request is in.
        view = wait_until(lambda: (v := web_json(port, "/stream-app/routers/")["lrs"])["delivered"] >= len(late) and v)
        assert view["retrying"] == len(early) and view["delivered"] == len(late) and view["dead_lettered"] == 0


def test_worker_killed_during_delivery_every_statement_is_stored_exactly_once(
        stack: Stack, ralph: Ralph, tmp_path: Path) -> None:
    write_routers(stack, [{"name": "lrs", "format": "xapi", "url": ralph.url, "retry_delays": FAST_RETRIES,
                           "auth": {"type": "basic", "username": ralph.username, "password": ralph.password},
                           "batch": {"size": 5, "max_wait": "100ms"}}])
    events = EVENTS * 3
    first, port = stack.start_worker("w1", data_dir=tmp_path / "d1")
    stack.produce_cdc(CDC)
    wait_for_cdc([port])
    stack.produce_tracking(events)
    want = cli_output("xapi", CDC, EVENTS, tmp_path)
    wait_until(lambda: len(ralph.statement_ids()) >= 5, timeout=90, interval=0.1)
    first.stop(signal.SIGKILL)
    assert len(ralph.statement_ids()) < len(want)  # killed in the middle of delivery
    stack.start_worker("w2", data_dir=tmp_path / "d2")
    wait_until(lambda: set(ralph.statement_ids()) >= {w["id"] for w in want}, timeout=120)
    stored = ralph.statement_ids()
    assert sorted(stored) == sorted(w["id"] for w in want)
