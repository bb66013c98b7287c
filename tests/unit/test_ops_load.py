"""Backfill without a broker: file discovery and rotation order, line checks, bad-line reports, fsspec URLs."""

from __future__ import annotations

import gzip
from pathlib import Path

import fsspec
import orjson
import pytest
from click.testing import CliRunner

from stream_app.cli.main import cli
from stream_app.ops.load import BadLine, DryRun, check_line, load
from stream_app.ops.sources import expand, rotation_key

EVENT = b'{"name":"play_video","context":{"user_id":7,"username":"ann"},"timestamp":"2024-01-01T00:00:00Z"}'


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes | None]] = []

    def send(self, value: bytes, key: bytes | None) -> None:
        self.sent.append((value, key))

    def close(self) -> int:
        return 0


def test_rotated_files_sort_oldest_first() -> None:
    names = ["d/tracking.log", "d/tracking.log.1", "d/tracking.log.2.gz", "d/tracking.log-20240102.gz",
             "d/tracking.log-20240101.gz", "d/tracking.log.10"]
    assert sorted(names, key=rotation_key) == [
        "d/tracking.log-20240101.gz", "d/tracking.log-20240102.gz", "d/tracking.log.10", "d/tracking.log.2.gz",
        "d/tracking.log.1", "d/tracking.log"]


def test_directories_and_globs_expand_once_in_rotation_order(tmp_path: Path) -> None:
    for name in ("tracking.log", "tracking.log.1", "tracking.log-20240101.gz", ".hidden"):
        (tmp_path / name).write_bytes(EVENT + b"\n")
    from_dir = [Path(s.name).name for s in expand([str(tmp_path)])]
    both = [Path(s.name).name for s in expand([str(tmp_path / "tracking.log*"), str(tmp_path / "tracking.log")])]
    assert from_dir == both == ["tracking.log-20240101.gz", "tracking.log.1", "tracking.log"]


def test_line_checks_keep_original_bytes_and_key_by_actor() -> None:
    assert check_line(EVENT + b"\n") == (EVENT, b"ann")
    assert check_line(b"Jan  1 lms-1 tracking: " + EVENT) == (EVENT, b"ann")  # syslog prefix cut
    assert check_line(b'{"username": "bob", "event_type": "x"}') == (b'{"username": "bob", "event_type": "x"}', b"bob")
    assert check_line(b'{"name": "x", "context": {"user_id": 3}}') == (b'{"name": "x", "context": {"user_id": 3}}',
                                                                        b"3")
    assert check_line(b"{}") == (b"{}", None)
    assert check_line(b"  \n") is None
    assert check_line(b"not json") == "invalid_json"
    assert check_line(b'{"truncated": ') == "invalid_json"
    assert check_line(b"[1, 2]") == "invalid_event:not_an_object"
    assert check_line(b'"text"') == "invalid_event:not_an_object"


def test_bad_lines_are_reported_with_file_and_line_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "tracking.log.1").write_bytes(gzip.compress(EVENT + b"\nnope\n\n[1]\n" + EVENT + b"\n"))
    (tmp_path / "tracking.log").write_bytes(b"{bad\n" + EVENT + b"\n")
    bad: list[BadLine] = []
    sink = Recorder()
    stats = load(expand([str(tmp_path)]), sink, bad.append)
    assert [(Path(b.file).name, b.line, b.reason) for b in bad] == [
        ("tracking.log.1", 2, "invalid_json"), ("tracking.log.1", 4, "invalid_event:not_an_object"),
        ("tracking.log", 1, "invalid_json")]
    assert len(sink.sent) == stats.events == 3
    assert stats.lines == 7 and stats.files == 2


def test_a_corrupt_gzip_is_reported_and_later_files_still_load(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(EVENT + b"\n" for _ in range(2000)))
    (tmp_path / "tracking.log.1.gz").write_bytes(data[: len(data) // 2])  # truncated in transfer
    (tmp_path / "tracking.log").write_bytes(EVENT + b"\n")
    bad: list[BadLine] = []
    stats = load(expand([str(tmp_path)]), DryRun(), bad.append, dry_run=True)
    assert [(Path(b.file).name, b.reason) for b in bad] == [("tracking.log.1.gz", "unreadable_file")]
    assert bad[0].line == stats.lines  # the line after the last one read (the last read counted as a line)
    assert stats.events == stats.lines  # every line read before the damage, and the later file


def test_fsspec_urls_are_read_like_local_files() -> None:
    # memory:// goes through the same fsspec calls as s3:// (glob, find, size, open).
    fs = fsspec.filesystem("memory")
    fs.pipe("/logs/a/tracking.log", EVENT + b"\n")
    fs.pipe("/logs/a/tracking.log.1.gz", gzip.compress(EVENT.replace(b"ann", b"bob") + b"\n"))
    sources = expand(["memory://logs/a/"])
    assert [s.name for s in sources] == ["memory:///logs/a/tracking.log.1.gz", "memory:///logs/a/tracking.log"]
    sink = Recorder()
    load(sources, sink, lambda bad: None)
    assert [key for _, key in sink.sent] == [b"bob", b"ann"]


def test_s3_urls_are_read_with_credentials_and_endpoint_from_the_environment(tmp_path: Path) -> None:
    """`stream-app load s3://...` against a real S3-protocol server (moto's), configured as for MinIO."""
    import os
    import subprocess
    import sys

    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "minio", "AWS_SECRET_ACCESS_KEY": "minio123",
               "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_DEFAULT_REGION": "us-east-1"}
        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="minio", aws_secret_access_key="minio123")
        s3.create_bucket(Bucket="lms-logs")
        s3.put_object(Bucket="lms-logs", Key="prod/tracking.log", Body=EVENT + b"\nbroken\n")
        s3.put_object(Bucket="lms-logs", Key="prod/tracking.log.1.gz",
                      Body=gzip.compress(EVENT.replace(b"ann", b"bob") + b"\n"))
        s3.put_object(Bucket="lms-logs", Key="other/tracking.log", Body=EVENT + b"\n")  # not under the prefix
        script = Path(sys.executable).with_name("stream-app")
        result = subprocess.run([str(script), "load", "--dry-run", "--rejects", str(tmp_path / "rejects.jsonl"),
                                 "s3://lms-logs/prod/"], env=env, capture_output=True, text=True, timeout=120)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    assert "files: 2; lines: 3; events valid (dry run, nothing produced): 2; bad lines: 1" in result.stderr
    assert "s3://lms-logs/prod/tracking.log:2: invalid_json" in result.stderr
    (reject,) = [orjson.loads(line) for line in (tmp_path / "rejects.jsonl").read_bytes().splitlines()]
    assert (reject["file"], reject["line"]) == ("s3://lms-logs/prod/tracking.log", 2)


def test_cli_dry_run_reports_bad_lines_to_stderr_and_rejects_file(tmp_path: Path) -> None:
    log = tmp_path / "tracking.log"
    log.write_bytes(EVENT + b"\nbroken\n" + EVENT + b"\n")
    rejects = tmp_path / "rejects.jsonl"
    result = CliRunner().invoke(cli, ["load", "--dry-run", "--rejects", str(rejects), str(log)])
    assert result.exit_code == 0, result.output
    assert f"{log}:2: invalid_json: broken" in result.stderr
    assert "events valid (dry run, nothing produced): 2" in result.stderr
    assert "bad lines: 1 (invalid_json=1)" in result.stderr
    assert [orjson.loads(line) for line in rejects.read_bytes().splitlines()] == [
        {"file": str(log), "line": 2, "reason": "invalid_json", "text": "broken"}]


def test_cli_names_a_missing_path() -> None:
    result = CliRunner().invoke(cli, ["load", "--dry-run", "/nonexistent/tracking.log"])
    assert result.exit_code != 0
    assert "/nonexistent/tracking.log: no such file or directory" in result.output


def test_rate_limit_sleeps_until_each_event_is_due(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--rate N`: event k is sent no earlier than k/N s after the start (a fake clock: behaviour, not timing)."""
    from stream_app.ops import load as load_module

    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    monkeypatch.setattr(load_module.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(load_module.time, "sleep", sleep)
    pacer = load_module.Pacer(10.0)
    for count in range(1, 4):
        pacer.wait(count)
    assert slept == [0.1, 0.1, 0.1] and now[0] == pytest.approx(100.3)
    now[0] += 1.0  # fell behind (a slow broker): no sleeping until the schedule is caught up
    pacer.wait(4)
    assert len(slept) == 3
    load_module.Pacer(None).wait(10**6)  # no rate: never waits
    assert len(slept) == 3


def test_the_size_check_refuses_at_least_what_librdkafka_refuses() -> None:
    from confluent_kafka import KafkaException, Producer

    from stream_app.ops.limits import SizeLimit

    limit = SizeLimit(10_000, "test")
    producer = Producer({"bootstrap.servers": "127.0.0.1:9", "message.max.bytes": limit.max_bytes})
    key = b"learner1"
    largest = next(n for n in range(limit.max_bytes, 0, -1) if not limit.refuses(b"x" * n, key))
    producer.produce("t", b"x" * largest, key)  # what the check lets through, the producer takes
    assert limit.refuses(b"x" * (largest + 1), key)
    with pytest.raises(KafkaException):  # and the producer's own limit is not far above ours
        producer.produce("t", b"x" * (largest + 100), key)
    producer.purge()


def test_over_size_lines_are_refused_before_producing_and_counted_alike_in_a_dry_run(tmp_path: Path) -> None:
    from stream_app.ops.limits import SizeLimit

    big = b'{"name":"problem_check","username":"ann","event":{"state":"' + b"x" * 20_000 + b'"}}'
    (tmp_path / "tracking.log").write_bytes(EVENT + b"\n" + big + b"\nnope\n" + EVENT + b"\n")
    limit = SizeLimit(10_000, "topic t max.message.bytes")
    sink, bad, dry_bad = Recorder(), [], []
    real = load(expand([str(tmp_path)]), sink, bad.append, limit=limit)
    dry = load(expand([str(tmp_path)]), DryRun(), dry_bad.append, limit=limit, dry_run=True)
    assert [(b.line, b.reason) for b in bad] == [(b.line, b.reason) for b in dry_bad] == [
        (2, "msg_size_too_large"), (3, "invalid_json")]
    assert real.events == dry.events == len(sink.sent) == 2 and real.bad == dry.bad
    assert all(len(value) < 1000 for value, _ in sink.sent)  # the large line was never handed to the producer
    assert "size limit: 10,000 bytes (topic t max.message.bytes)" in real.summary()


def test_an_unreachable_broker_leaves_the_producers_limit_and_says_so() -> None:
    from stream_app.ops.limits import PRODUCER_MAX_BYTES, size_limit

    limit = size_limit("127.0.0.1:9", "openedx.tracking", timeout=1.0)
    assert limit.max_bytes == PRODUCER_MAX_BYTES
    assert limit.describe().startswith("1,000,000 bytes (producer message.max.bytes; the broker did not answer")
