"""`stream-app topics create` on the embedded broker: every declared topic, the routers' retry topics, idempotent.

The command is what the Tutor plugin's init task runs before any worker exists;
it must create exactly what a worker would (same declarations, partitions and
retry topics), and a second run must change nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import yaml
from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]

from stream_app.topics import DEFAULT_FILE, concrete, load_topics

STREAM_APP = str(Path(sys.executable).with_name("stream-app"))


def test_topics_create_makes_every_declared_and_retry_topic_once(broker: str, tmp_path: Path) -> None:
    tag = f"topics-cli-{uuid.uuid4().hex[:6]}"
    data = yaml.safe_load(DEFAULT_FILE.read_text())
    for spec in data["topics"].values():
        spec["name"] = f"{tag}.{spec['name']}"
    topics_file = tmp_path / "topics.yaml"
    topics_file.write_text(yaml.safe_dump(data))
    routers_file = tmp_path / "routers.yaml"
    routers_file.write_text(yaml.safe_dump({"routers": [
        {"name": "campus-lrs", "format": "xapi", "url": "http://127.0.0.1:9/xAPI/", "retry_delays": ["1s", "2s"]},
    ]}))
    env = {**os.environ, "STREAM_APP_TOPICS_FILE": str(topics_file), "STREAM_APP_ROUTERS_FILE": str(routers_file),
           "STREAM_APP_BROKER": f"kafka://{broker}", "STREAM_APP_PARTITIONS": "3"}

    first = subprocess.run([STREAM_APP, "topics", "create"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr

    expected = concrete(load_topics(topics_file), [("campus-lrs", 2)])
    names = {spec.name for spec in expected}
    assert {f"{tag}.stream_app.retry.campus-lrs.1", f"{tag}.stream_app.retry.campus-lrs.2"} <= names
    created = {line.removeprefix("created ") for line in first.stdout.splitlines()}
    assert created == names
    metadata = AdminClient({"bootstrap.servers": broker}).list_topics(timeout=10).topics
    for spec in expected:
        assert spec.name in metadata, spec.name
        assert len(metadata[spec.name].partitions) == (spec.partitions or 3), spec.name

    again = subprocess.run([STREAM_APP, "topics", "create"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    assert f"0 topic(s) created, {len(expected)} already there" in again.stderr


def test_topics_create_reports_a_bad_routers_file_without_creating_anything(broker: str, tmp_path: Path) -> None:
    routers_file = tmp_path / "routers.yaml"
    routers_file.write_text("routers:\n  - name: Bad Name\n    format: xapi\n    url: http://x/\n")
    env = {**os.environ, "STREAM_APP_ROUTERS_FILE": str(routers_file), "STREAM_APP_BROKER": f"kafka://{broker}"}
    result = subprocess.run([STREAM_APP, "topics", "create"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "field 'name' must match" in result.stderr
    assert "created" not in result.stdout
