"""Reading JSONL inputs the way operators have them: plain or gzip, files or stdin, clean or prefixed lines.

Tracking-log lines sometimes carry a syslog prefix before the JSON object; like
ERB's log parser we start at the first `{`. Each line is yielded with its
1-based number so that bad lines can be reported precisely.
"""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterator
from typing import IO, Any, cast

import orjson

from stream_app.errors import StreamAppError

GZIP_MAGIC = b"\x1f\x8b"


class BadLine(StreamAppError, ValueError):
    """A line that is not a JSON object."""


def open_input(path: str) -> IO[bytes]:
    """Open a path (or `-` for stdin) for binary reading, transparently gunzipping."""
    raw = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(io.RawIOBase, raw))
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    return buffered


def parse_line(line: bytes) -> Any:
    """Parse one line as JSON, skipping a non-JSON prefix; raises BadLine."""
    text = line.strip()
    if not text:
        raise BadLine("empty_line")
    if not text.startswith(b"{"):
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
        else:  # valid JSON, but an array, a string or a number: not an event
            raise BadLine("invalid_event:not_an_object")
        start = text.find(b"{")
        if start < 0:
            raise BadLine("invalid_json")
        text = text[start:]
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadLine("invalid_json") from exc


def iter_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, raw line) for every non-blank line."""
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, line
