"""The ingest process's parts that need no broker: its reports to the worker, its username index, its imports."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from collections import Counter
from types import SimpleNamespace

from faust.serializers import codecs

from stream_app import ingestproc
from stream_app.tables.usernames import UsernameIndex, changelog_topic


def test_reports_carry_increments_that_add_up_to_the_process_s_counts_in_the_worker() -> None:
    counts: Counter[str] = Counter()
    out = io.BytesIO()
    reporter = ingestproc.Reporter(counts, out)
    counts.update({"routed": 5, "in:play_video": 5})
    reporter.report({("tracking", 0): 7})
    counts.update({"routed": 3, "dead_letter:parse:invalid_json": 1})
    reporter.report({("tracking", 0): 2, ("tracking", 1): 0})
    out.write(b'{"counts":{"routed":50},"la\n')  # cut short by a kill: skipped, nothing counted from it
    reporter.report({("tracking", 1): 4})
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and b'"counts":{}' in lines[3]  # nothing new: nothing counted twice

    async def read() -> ingestproc.IngestProcess:
        worker = ingestproc.IngestProcess(SimpleNamespace(counts=Counter({"routed": 100})))
        stream = asyncio.StreamReader()
        stream.feed_data(out.getvalue())
        stream.feed_eof()
        await worker._read(SimpleNamespace(stdout=stream, pid=1))  # type: ignore[arg-type]
        return worker

    worker = asyncio.run(read())
    assert worker.ctx.counts == Counter({"routed": 108, "in:play_video": 5, "dead_letter:parse:invalid_json": 1})
    assert worker.lag == {("tracking", 1): 4}  # the last report's lag replaces the earlier ones


def test_the_username_index_reads_faust_s_changelog_records_tombstones_included() -> None:
    index = UsernameIndex(SimpleNamespace(), "t")  # type: ignore[arg-type]
    index.apply(codecs.dumps("json", "learner3"), codecs.dumps("json", "3"))
    index.apply(codecs.dumps("json", "renamed"), codecs.dumps("json", 9))
    assert (index.get("learner3"), index.get("renamed"), index.get("other")) == ("3", 9, None)
    index.apply(codecs.dumps("json", "learner3"), None)  # deleted or renamed away
    assert index.get("learner3") is None
    index.apply(b"{not json", b"1")  # not Faust's: skipped, the index keeps what it had
    index.apply(codecs.dumps("json", ["a"]), b"2")
    assert (index.get("renamed"), len(index._ids)) == (9, 1)


def test_the_changelog_read_is_the_one_faust_writes_for_the_usernames_table() -> None:
    from stream_app.tables.stream import usernames

    assert changelog_topic(usernames.app.conf.id, "usernames") == usernames.changelog_topic.get_topic_name()


def test_the_ingest_process_does_not_build_the_faust_app_or_its_tables() -> None:
    probe = ("import sys, stream_app.ingestproc; "
             "print(sorted(m for m in ('stream_app.application', 'stream_app.tables.stream', 'stream_app.context') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_a_report_to_a_worker_that_is_gone_is_dropped_not_raised() -> None:
    class Gone(io.BytesIO):
        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    counts: Counter[str] = Counter({"routed": 1})
    reporter = ingestproc.Reporter(counts, Gone())
    reporter.report({})
    counts["routed"] += 1
    reporter.report({})  # nothing raised: the process goes on to stop cleanly
