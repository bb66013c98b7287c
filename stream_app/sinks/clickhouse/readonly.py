"""Read-only queries on a sink's tables for operators: one SELECT, a bounded number of rows, nothing else.

The worker's view `/stream-app/clickhouse/query/` and `stream-app clickhouse
query` both go through `run_select`, because an embedded chDB directory can be
opened by one process only: while the worker runs, the worker is the way in.
The guard is layered, each layer enough on its own for the common mistakes:
the text must be one statement (no `;` but a trailing one: chDB runs several
statements given in one call) starting with SELECT or WITH; it is wrapped as a
subquery, which ClickHouse's parser accepts only for a SELECT; and ClickHouse
runs it with `readonly = 1`, which refuses any write or DDL, and a time limit.
A `;` inside a string literal is refused too: simpler to explain than a parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stream_app.errors import StreamAppError

DEFAULT_ROWS = 1000
MAX_ROWS = 10_000
TIME_LIMIT_SECONDS = 60
# A SELECT or WITH keyword after any leading comments.
_FIRST_WORD = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*(select|with)\b", re.IGNORECASE | re.DOTALL)


class QueryRefused(StreamAppError, ValueError):
    """The query is not one read-only SELECT, or the row bound is out of range; the message says which."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows of a bounded SELECT; `truncated` when the query had more than `limit` rows."""

    rows: list[dict[str, Any]]
    limit: int
    truncated: bool

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "count": len(self.rows), "limit": self.limit, "truncated": self.truncated}


def bounded_select(sql: str, limit: int = DEFAULT_ROWS) -> str:
    """The query text to run for `sql`: wrapped, limited to `limit` + 1 rows, read-only; or QueryRefused."""
    if not 1 <= limit <= MAX_ROWS:
        raise QueryRefused(f"limit must be between 1 and {MAX_ROWS} rows, not {limit}")
    text = sql.strip()
    if text.endswith(";"):
        text = text[:-1].rstrip()
    if not text:
        raise QueryRefused("empty query")
    if ";" in text:
        raise QueryRefused("one statement only: no ';' inside the query")
    if not _FIRST_WORD.match(text):
        raise QueryRefused("only SELECT queries (SELECT ... or WITH ... SELECT ...) are allowed")
    # The newline before `)` ends a trailing `--` comment; readonly comes last, after the settings it allows.
    return (f"SELECT * FROM (\n{text}\n) LIMIT {limit + 1} SETTINGS max_execution_time = {TIME_LIMIT_SECONDS}, "
            "output_format_json_quote_64bit_integers = 0, readonly = 1")


def run_select(query: Callable[[str], list[dict[str, Any]]], sql: str, limit: int = DEFAULT_ROWS) -> QueryResult:
    """Run `sql` through `query` (a client's or sink's `query`) as a bounded read-only SELECT."""
    rows = query(bounded_select(sql, limit))
    return QueryResult(rows[:limit], limit, len(rows) > limit)
