"""The real LMS producer on the embedded broker gives the statements ERB's event-bus consumer would.

The LMS side runs the real packages (openedx-events 11.2, edx-event-bus-kafka 6.2, event-tracking
4.1.5) in their own Python 3.12 virtualenv (`make lms`, `.venv-lms`; `STREAM_APP_TEST_LMS_PYTHON`
overrides the interpreter), configured as edx-platform's producer settings are: event-tracking's
`EventBusRoutingBackend.send` puts Avro `TrackingLogData` on `<prefix>-analytics` through the
development schema registry, with docs/lms-event-bus.md's LMS settings block as the settings. The
worker reads that topic with `STREAM_APP_TRACKING_FORMAT=event-bus-avro`.
ERB's side of the comparison is rebuilt from the real packages too: edx-event-bus-kafka's consumer and
event-tracking's signal handler hand the event to the backend ERB's router sits at, which records the
timestamp it was given (a datetime); ERB's id formula is then applied with tincan's own JSON forms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from stream_app.topics import load_topics
from tests.integration.stack import Stack, wait_until, web_json
from tests.unit.test_lms_event_bus_docs import documented_tracking_logs

ROOT = Path(__file__).resolve().parents[2]
LMS_SIDE = Path(__file__).parent / "lms" / "lms_side.py"
ERB = ROOT / "tests" / "golden" / "erb"
SEED = [orjson.loads(line) for line in (ERB / "seed.jsonl").read_bytes().splitlines() if line.strip()]


def lms_python() -> Path:
    """The LMS virtualenv's interpreter (`make lms`); `STREAM_APP_TEST_LMS_PYTHON` overrides it."""
    override = os.environ.get("STREAM_APP_TEST_LMS_PYTHON")
    python = Path(override) if override else ROOT / ".venv-lms" / "bin" / "python"
    if not python.exists():
        pytest.fail(f"the LMS virtualenv is not installed at {python}: run `make lms`")
    return python


def fixture(name: str, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = orjson.loads((ERB / "cases" / name / "event.json").read_bytes())
    return {**event, **changes}


# ERB fixture events as the LMS tracker hands them to its backends, plus timestamp variants: no
# microseconds (str() shows no fraction) and a non-UTC offset (kept through the bus).
EVENTS = [
    fixture("complete_video"),  # 2020-07-15T06:46:41.543562+00:00: the measured case
    fixture("complete_video", timestamp="2020-07-15T06:46:41+00:00"),
    fixture("play_video", timestamp="2020-07-15T08:52:55.057099+02:00"),
    fixture("pause_video"),
    fixture("edx.ui.lms.link_clicked"),
    fixture("edx.course.enrollment.activated"),
]


def run_lms(*args: str, timeout: float = 600.0) -> str:
    done = subprocess.run([str(lms_python()), str(LMS_SIDE), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"lms_side.py {args[0]} failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    return done.stdout


def point_tracking_at(stack: Stack, name: str) -> None:
    """The operator's topics-file copy with the tracking topic renamed to the LMS's event-bus topic."""
    data = yaml.safe_load(stack.topics_file.read_text())
    data["topics"]["tracking"]["name"] = name
    stack.topics_file.write_text(yaml.safe_dump(data))
    stack.specs = load_topics(stack.topics_file)


def applied(port: int, counter: str) -> int:
    return int(web_json(port, "/stream-app/health/")["counts"].get(counter, 0))


def cli_ids(tmp: Path, *args: str) -> list[str]:
    seed, source = tmp / "seed.jsonl", tmp / "events.jsonl"
    seed.write_bytes((ERB / "seed.jsonl").read_bytes())
    source.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in EVENTS))
    out = subprocess.run([sys.executable, "-m", "stream_app", "transform", "--format", "xapi", "--cdc", str(seed),
                          "--input", str(source), *args], check=True, capture_output=True).stdout
    return [orjson.loads(line)["id"] for line in out.splitlines()]


def test_the_real_lms_producer_gives_erbs_event_bus_statement_ids(stack: Stack, tmp_path: Path) -> None:
    prefix = stack.env["STREAM_APP_APP_ID"]
    point_tracking_at(stack, f"{prefix}-analytics")
    config = tmp_path / "lms.json"
    config.write_text(json.dumps({
        "bootstrap": stack.bootstrap, "registry_url": stack.registry_url, "topic_prefix": prefix,
        "group": f"{prefix}-erb", "settings_doc": str(ROOT / "docs" / "lms-event-bus.md"),
    }))
    assert {e["name"] for e in EVENTS} <= set(documented_tracking_logs())
    events = tmp_path / "lms-events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))

    _, port = stack.start_worker("w1", STREAM_APP_TRACKING_FORMAT="event-bus-avro",
                                 STREAM_APP_TRANSFORMER_VERSION="event-routing-backends@1.1.1")
    stack.produce_cdc(SEED)
    wait_until(lambda: applied(port, "users:external_user_ids_externalid") == 46
               and applied(port, "users:auth_user") == 23)
    wait_until(lambda: web_json(port, "/stream-app/tables/")["courses"] == 4)

    assert json.loads(run_lms("produce", str(config), str(events))) == {"sent": len(EVENTS)}
    # ERB's side: the real consumer, in parallel with the worker (its group join takes a while).
    captured_file = tmp_path / "captured.jsonl"
    consumer = subprocess.Popen([str(lms_python()), str(LMS_SIDE), "consume", str(config), str(len(EVENTS)),
                                 str(captured_file)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    records = stack.read("xapi", expected=len(EVENTS), timeout=120)
    out, _ = consumer.communicate(timeout=600)
    assert consumer.returncode == 0, out.decode(errors="replace")[-4000:]

    # Every event, once, as the worker's statements (at-least-once: a repeat has the same id).
    statements = {r["event_id"]: json.loads(r["statement"]) for r in records}
    names = {r["event_id"]: r["event_name"] for r in records}
    assert len(statements) == len(EVENTS)

    captured = [json.loads(line) for line in captured_file.read_text().splitlines()]
    assert len(captured) == len(EVENTS)
    assert {c["type"] for c in captured} == {"datetime"}  # what ERB's transformer is handed on this path
    by_key = {(c["name"], c["isoformat"]): c["str"] for c in captured}
    assert sorted(by_key.values()) == sorted([
        "2020-07-15 06:46:41.543562+00:00", "2020-07-15 06:46:41+00:00", "2020-07-15 08:52:55.057099+02:00",
        "2020-07-15 06:56:09.649080+00:00", "2020-07-14 14:33:28.973761+00:00", "2020-07-15 06:36:01.917775+00:00",
    ])

    # ERB's ids: its formula over tincan's JSON forms and the datetime its consumer rebuilt.
    ours = sorted(statements)
    lines = [{"statement": statements[i], "timestamp": by_key[(names[i], statements[i]["timestamp"])]} for i in ours]
    requests = tmp_path / "ids.jsonl"
    requests.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert run_lms("ids", str(requests)).split() == ours
    assert "6d582bd3-494a-5312-a776-bb09746d2b01" in statements  # the measured ERB event-bus id

    # `stream-app transform` gives the same ids by default (live); with --id-form replay, ERB's replay ids.
    assert sorted(cli_ids(tmp_path)) == ours
    replayed = cli_ids(tmp_path, "--id-form", "replay")
    assert "f7c8b743-f18f-5016-8455-35ff8a2f8020" in replayed and not set(replayed) & set(ours)
