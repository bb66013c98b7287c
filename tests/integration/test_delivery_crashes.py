"""Delivery through crashes: workers killed (`kill -9` of the process group) while the LRS is down or busy.

Real broker, real workers, a real Ralph LRS and a real SMTP server (aiosmtpd).
Router health must survive the kills (one "failing" digest and one "delivers
again" mail per outage), and every statement is stored once.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from stream_app.devstack.ralph import Ralph
from tests.integration.stack import Stack, wait_until, web_json
from tests.integration.test_delivery import Mailbox, smtp, write_routers  # noqa: F401 — smtp: the fixture
from tests.integration.test_topology import CDC, EVENTS, applied, cli_output, wait_for_cdc
from tests.integration.trail import read_all, trail


def lrs_router(ralph: Ralph, **changes: Any) -> dict[str, Any]:
    return {"name": "lrs", "format": "xapi", "url": ralph.url, "timeout": "5s",
            "auth": {"type": "basic", "username": ralph.username, "password": ralph.password},
            "batch": {"size": 50, "max_wait": "200ms"}, **changes}


def mail_env(smtp_port: int) -> dict[str, str]:
    return {"STREAM_APP_SMTP_HOST": "127.0.0.1", "STREAM_APP_SMTP_PORT": str(smtp_port),
            "STREAM_APP_ALERT_TO": "ops@example.org", "STREAM_APP_ALERT_WINDOW": "15m"}


def status_records(stack: Stack, done: Any) -> list[dict[str, Any]]:
    return stack.read("delivery_status", 0, timeout=60, settle=0.5, done=done)


def test_lrs_down_worker_killed_and_restarted_then_lrs_back_one_failing_and_one_recovery_mail(
        stack: Stack, ralph: Ralph, tmp_path: Path, smtp: tuple[Mailbox, int]) -> None:  # noqa: F811
    box, smtp_port = smtp
    # Long enough delays that nothing is dead-lettered meanwhile: the mails are about the router's state.
    write_routers(stack, [lrs_router(ralph, retry_delays=["1s", "2s", "10m"])], **mail_env(smtp_port))
    first_half, second_half = EVENTS[:40], EVENTS[40:]
    ralph.stop()
    first, port = stack.start_worker("w1", data_dir=tmp_path / "d1")
    stack.produce_cdc(CDC)
    wait_for_cdc([port])
    stack.produce_tracking(first_half)
    wait_until(lambda: len(box.subjects()) >= 1, timeout=90)
    # The alert agent keeps what it mailed on the status topic; wait for that before the crash.
    status_records(stack, lambda rs: any("alerts" in r for r in rs))
    first.kill_group()

    _, port = stack.start_worker("w2", data_dir=tmp_path / "d2")
    # The successor reads what w1 left uncommitted and finds the LRS still down.
    wait_until(lambda: web_json(port, "/stream-app/routers/")["lrs"]["last_error"] == "connection_error", timeout=90)
    ralph.start()
    stack.produce_tracking(second_half)
    want = {w["id"] for w in cli_output("xapi", CDC, second_half, tmp_path)}
    wait_until(lambda: set(ralph.statement_ids()) >= want, timeout=120)
    wait_until(lambda: len(box.subjects()) >= 2, timeout=60)
    # Both announcements are on the topic once; anything more would have been mailed by now.
    records = status_records(stack, lambda rs: sum(r.get("state") == "delivering" for r in rs) >= 1
                             and sum(not r.get("alerted", True) for r in rs if "alerts" in r) >= 1)
    states = [r["state"] for r in records if "state" in r]
    # One failing for the outage, though w2 met it again; a busy LRS may make a later batch fail (a new
    # failing, mailed at most once per window), never a repeat before the recovery.
    assert states[:2] == ["failing", "delivering"], states
    subjects = box.subjects()
    assert len(subjects) == 2, subjects
    assert "lrs is failing" in subjects[0] and "lrs delivers again" in subjects[1], subjects
    assert len(ralph.statement_ids()) == len(set(ralph.statement_ids()))  # nothing stored twice


def copies(events: list[bytes], n: int) -> list[list[bytes]]:
    """`n` copies of the sample events, each a minute later than the one before: distinct statement ids."""
    parsed = [orjson.loads(line) for line in events]
    out = []
    for copy in range(n):
        chunk = []
        for event in parsed:
            field = "timestamp" if "timestamp" in event else "time"  # live events and tracking-log lines
            at = datetime.fromisoformat(event[field]) + timedelta(minutes=copy)
            chunk.append(orjson.dumps({**event, field: at.isoformat()}))
        out.append(chunk)
    return out


def statement_ids(records: list[dict[str, Any]]) -> list[str]:
    return [orjson.loads(r["statement"])["id"] for r in records]


def repeats_bound(stack: Stack) -> tuple[int, int]:
    """What one crash may repeat: the events of the events-by-actor messages that can be in flight.

    Tracking batches: in the ingest process (the default) IN_FLIGHT stored-but-unacknowledged ones, the one
    being routed and one whose commit is under way; on the worker's loop only the last two. Each is written
    as one message per events-by-actor partition. And (ENRICH_IN_FLIGHT + 2) x ENRICH_BATCH messages in the
    enrich agent (stored-but-unacknowledged batches, the batch under way, one whose commit is under way).
    Returns (bound in events, messages counted): the sum of the largest such messages of this run.
    """
    from stream_app.agents.enrich import ENRICH_BATCH, ENRICH_IN_FLIGHT
    from stream_app.agents.ingest import IN_FLIGHT
    from stream_app.settings import Settings

    partitions = stack.specs["events_by_actor"].partitions or 4
    tracking_batches = IN_FLIGHT + 2 if Settings().ingest_process else 2  # the workers' environment is ours
    messages = tracking_batches * partitions + (ENRICH_IN_FLIGHT + 2) * ENRICH_BATCH
    records = read_all(stack.bootstrap, stack.specs["events_by_actor"].name, wait=5.0)
    sizes = [len(orjson.loads(value)) for _partition, _offset, value in records]
    return sum(sorted(sizes, reverse=True)[:messages]), messages


def produce_steadily(stack: Stack, events: list[bytes], per_step: int = 10, pause: float = 0.05) -> None:
    """A steady stream (about 200 events/s), so a kill lands mid-stream and batches stay small."""
    for start in range(0, len(events), per_step):
        stack.produce_tracking(events[start:start + per_step])
        time.sleep(pause)


def test_a_crash_repeats_at_most_the_input_in_flight(stack: Stack, tmp_path: Path) -> None:
    events = [line for chunk in copies(EVENTS, 40) for line in chunk]
    want = {w["id"] for w in cli_output("xapi", CDC, events, tmp_path)}
    first, port = stack.start_worker("w1", data_dir=tmp_path / "d1")
    stack.produce_cdc(CDC)
    wait_for_cdc([port])
    produce_steadily(stack, events[: len(events) // 2])
    first.kill_group()
    stack.start_worker("w2", data_dir=tmp_path / "d2")
    produce_steadily(stack, events[len(events) // 2:])
    records = stack.read("xapi", 0, timeout=180, done=lambda rs: len(set(statement_ids(rs))) >= len(want))
    ids = statement_ids(records)
    missing = want - set(ids)
    assert not missing, (len(missing), len(want), trail(stack, events, missing, tmp_path))
    assert set(ids) == want
    repeats = len(ids) - len(want)
    bound, messages = repeats_bound(stack)
    print(f"kill -9 mid-stream: {len(ids)} xAPI records for {len(want)} statements: {repeats} repeats "
          f"(bound: {bound} events in the {messages} largest events-by-actor messages)")
    assert repeats <= bound


ERB = Path(__file__).resolve().parents[1] / "golden" / "erb"
ERB_CDC = [orjson.loads(line) for line in (ERB / "seed.jsonl").read_bytes().splitlines() if line.strip()]
# ERB's fixture events: several share actor, verb and timestamp with other content (92 statements, 65 ids).
ERB_EVENTS = [orjson.dumps(orjson.loads((case / "event.json").read_bytes()))
              for case in sorted((ERB / "cases").iterdir()) if (case / "event.json").exists()]


def erb_workload(distinct: int) -> list[bytes]:
    """`distinct` time-shifted copies of ERB's events; every other copy is sent again two copies later
    (identical repeats across batches, as a crash replay makes them)."""
    shifted = copies(ERB_EVENTS, distinct)
    out: list[bytes] = []
    for n, chunk in enumerate(shifted):
        out += chunk
        if n >= 2 and n % 2 == 0:
            out += shifted[n - 2]
    return out


def handled(port: int) -> int:
    view = web_json(port, "/stream-app/routers/")["lrs"]
    return int(view["delivered"]) + int(view["retrying"])


def test_soak_kills_an_lrs_outage_and_repeated_ids_every_statement_stored_once(
        stack: Stack, ralph: Ralph, tmp_path: Path, smtp: tuple[Mailbox, int]) -> None:  # noqa: F811
    box, smtp_port = smtp
    write_routers(stack, [lrs_router(ralph, retry_delays=["1s", "2s", "4s", "8s", "15s", "30s", "60s"],
                                     batch={"size": 20, "max_wait": "100ms"})], **mail_env(smtp_port))
    events = erb_workload(8)
    want = {w["id"] for w in cli_output("xapi", ERB_CDC, events, tmp_path)}
    worker, port = stack.start_worker("w0", data_dir=tmp_path / "d0")
    stack.produce_cdc(ERB_CDC)
    wait_until(lambda: applied([port], "users:auth_user") == 23
               and applied([port], "users:external_user_ids_externalid") == 46, timeout=60)
    wait_until(lambda: web_json(port, "/stream-app/tables/")["courses"] == 4)
    parts = [events[i * len(events) // 4:(i + 1) * len(events) // 4] for i in range(4)]
    for n, part in enumerate(parts):
        produce_steadily(stack, part, per_step=10, pause=0.05)
        if n == 1:
            ralph.stop()  # the LRS goes down for the next two kills
        if n == 3:
            ralph.start()
        wait_until(lambda p=port: handled(p) > 0, timeout=60)  # killed once it delivers or retries
        worker.kill_group()
        worker, port = stack.start_worker(f"w{n + 1}", data_dir=tmp_path / f"d{n + 1}")
    wait_until(lambda: set(ralph.statement_ids()) >= want, timeout=150)
    wait_until(lambda: any("delivers again" in s for s in box.subjects()), timeout=60)
    stored = ralph.statement_ids()
    assert sorted(stored) == sorted(want)  # every expected statement id, each once
    dead = stack.read("dead_letter", 0, timeout=20, settle=1.0, done=lambda rs: True)
    assert [d for d in dead if d.get("stage") == "deliver"] == []
    subjects = box.subjects()
    assert sum("delivers again" in s for s in subjects) == 1, subjects
    assert sum("is failing" in s for s in subjects) == 1, subjects
