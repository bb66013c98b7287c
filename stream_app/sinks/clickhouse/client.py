"""One small client interface over the two ways to reach ClickHouse: embedded chDB and a server over HTTP.

`chdb://PATH` opens an embedded chDB session on a directory (the development
stack's default; chDB allows one embedded server per process, so a process opens
at most one such client at a time, and a directory is held by one process: a
second one is told in one line who holds it, see `held_by`). `http(s)://HOST:PORT` talks to a ClickHouse
server through clickhouse-connect. Both take inserts as JSONEachRow: a row is a
plain dict, and a batch is serialised by one orjson call as a JSON array, which
JSONEachRow accepts as input (ClickHouse >= 21); one call for the whole batch
costs a third of one call per row, and this serialisation is most of our share
of an insert's cost. The client is synchronous; `ClickHouseSink` runs it in a thread.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

from stream_app.errors import StreamAppError
from stream_app.extras import require

Row = Mapping[str, Any]


class ClickHouseError(StreamAppError, RuntimeError):
    """A query or insert failed; the message carries ClickHouse's own error text."""


class Client(Protocol):
    """What the sink, the schema check and the dump need from ClickHouse."""

    def command(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL, mutations)."""
        ...

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run a SELECT; one dict per row."""
        ...

    def insert(self, table: str, rows: Sequence[Row]) -> int:
        """Insert rows (dicts keyed by column) into `database.table` in one request; return the count."""
        ...

    def close(self) -> None:
        """Release the session or connection."""
        ...


def in_use_message(path: str, pid: int | None) -> str:
    """The one line an operator reads when another process holds a chDB directory, and what to do about it."""
    who = f"pid {pid}" if pid else "pid unknown"
    return (f"chDB at {path} is in use by another process ({who}, usually the stream_app worker whose clickhouse "
            "router writes there): chDB lets one process open a directory. Query the tables through that worker "
            "(stream-app clickhouse query --worker http://HOST:PORT 'SELECT ...'), or stop it first")


def held_by(path: str) -> int | None:
    """The pid of the process holding the chDB directory `path` (0 if unknown), or None when it is free.

    ClickHouse keeps an exclusive `flock` on `<path>/status` (which holds `PID: n`) while its server
    runs; trying that lock without waiting tells whether opening the directory would fail. The lock
    taken here is released at once (closing our descriptor releases only our own flock).
    """
    status = Path(path) / "status"
    try:
        fd = os.open(status, os.O_RDONLY)
    except OSError:
        return None  # never opened, or not readable: let chDB say what is wrong
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = status.read_text(errors="replace")
            pid = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("PID:")), "")
            return int(pid) if pid.isdigit() else 0
        return None
    finally:
        os.close(fd)


# chDB's words when the directory is locked: "Error initializing EmbeddedServer ... (BAD_ARGUMENTS)", caused by
# "Cannot lock file .../status. Another server instance in same directory is already running".
_LOCKED = ("Cannot lock file", "Another server instance", "Error initializing EmbeddedServer")


def json_body(rows: Iterable[Row]) -> bytes:
    """Rows as a JSONEachRow body (a JSON array of objects)."""
    return orjson.dumps(rows if isinstance(rows, (list, tuple)) else list(rows))


class ChdbClient:
    """Embedded ClickHouse (chDB) on a directory; thread-safe through one lock (the session is not)."""

    def __init__(self, path: str) -> None:
        require("chdb", f"ClickHouse at chdb://{path}")
        from chdb import session  # imported here: loading the engine is heavy and only this backend needs it

        Path(path).mkdir(parents=True, exist_ok=True)
        holder = held_by(path)
        if holder is not None and holder != os.getpid():  # this process's own server may be reopened
            raise ClickHouseError(in_use_message(path, holder))
        factory: Any = session.Session  # chDB ships no type hints
        try:
            self._session: Any = factory(path)
        except Exception as exc:  # noqa: BLE001 - e.g. another process holds the directory: unavailable for now
            if any(words in str(exc) for words in _LOCKED):  # taken between our check and the open
                raise ClickHouseError(in_use_message(path, held_by(path) or 0)) from exc
            raise ClickHouseError(f"cannot open chDB at {path}: {exc}") from exc
        self._lock = threading.Lock()

    def _run(self, sql: str | bytes, fmt: str = "CSV") -> Any:
        try:
            with self._lock:
                return self._session.query(sql, fmt)
        except Exception as exc:  # noqa: BLE001 - chDB raises its own error types; callers see one kind
            raise ClickHouseError(str(exc)) from exc

    def command(self, sql: str) -> None:
        self._run(sql)

    def query(self, sql: str) -> list[dict[str, Any]]:
        result = self._run(sql, "JSONEachRow")
        return [orjson.loads(line) for line in result.bytes().splitlines() if line.strip()]

    def insert(self, table: str, rows: Sequence[Row]) -> int:
        if rows:
            # Bytes all the way: chDB takes them, and a 10 MB batch is not decoded and copied once more.
            self._run(f"INSERT INTO {table} FORMAT JSONEachRow\n".encode() + json_body(rows))
        return len(rows)

    def close(self) -> None:
        with self._lock:
            self._session.close()


class HttpClient:
    """A ClickHouse server through clickhouse-connect (HTTP interface)."""

    def __init__(self, url: str, username: str, password: str, timeout: float) -> None:
        import clickhouse_connect

        parts = urlsplit(url)
        secure = parts.scheme == "https"
        try:
            self._client = clickhouse_connect.get_client(
                host=parts.hostname or "localhost", port=parts.port or (8443 if secure else 8123),
                username=username, password=password, secure=secure,
                connect_timeout=timeout, send_receive_timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - connection errors come in several types
            raise ClickHouseError(f"cannot connect to {parts.scheme}://{parts.hostname}: {exc}") from exc

    def command(self, sql: str) -> None:
        try:
            self._client.command(sql)
        except Exception as exc:  # noqa: BLE001
            raise ClickHouseError(str(exc)) from exc

    def query(self, sql: str) -> list[dict[str, Any]]:
        try:
            result = self._client.raw_query(sql, fmt="JSONEachRow")
        except Exception as exc:  # noqa: BLE001
            raise ClickHouseError(str(exc)) from exc
        return [orjson.loads(line) for line in bytes(result).splitlines() if line.strip()]

    def insert(self, table: str, rows: Sequence[Row]) -> int:
        if rows:
            try:
                self._client.raw_insert(table, insert_block=json_body(rows), fmt="JSONEachRow")
            except Exception as exc:  # noqa: BLE001
                raise ClickHouseError(str(exc)) from exc
        return len(rows)

    def close(self) -> None:
        self._client.close()


def open_client(url: str, username: str = "default", password: str = "", timeout: float = 30.0) -> Client:
    """A client for `chdb://PATH` or `http(s)://HOST[:PORT]`."""
    if url.startswith("chdb://"):
        return ChdbClient(url[len("chdb://"):])
    if url.startswith(("http://", "https://")):
        return HttpClient(url, username, password, timeout)
    raise ValueError(f"unsupported ClickHouse URL {url!r}: use chdb://PATH or http(s)://HOST:PORT")
