"""Find tracking-log files and put them in the order their events happened: oldest rotation first.

Operators point `stream-app load` at what logrotate left behind: `tracking.log`
(current), `tracking.log.1`, `tracking.log.2.gz` (numbered: a higher number is
older) or `tracking.log-20240101.gz` (dated), as files, directories or glob
patterns, locally or behind any fsspec URL (`s3://`, MinIO through s3fs with
credentials from the environment). Command-line order cannot be trusted for
age — a shell expands `tracking.log*` alphabetically, current file first — so
the union of everything named is sorted by directory, base name and rotation
age. Files are opened as bytes; gzip is detected by content, not by name.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO, Any

import fsspec  # type: ignore[import-untyped]  # ships no type information
from fsspec.implementations.local import LocalFileSystem  # type: ignore[import-untyped]

from stream_app.errors import StreamAppError

GZIP_MAGIC = b"\x1f\x8b"
READ_BUFFER = 1 << 20
_NUMBERED = re.compile(r"^(?P<base>.+)\.(?P<n>\d+)$")
_DATED = re.compile(r"^(?P<base>.+?)[-.](?P<date>\d{4}-?\d{2}-?\d{2})(?P<rest>(?:[-_T]?\d+)*)$")
_COMPRESSION = (".gz", ".gzip")


class SourceError(StreamAppError):
    """A file could not be found or read; `line` is the line that failed to read (0: the file did not open)."""

    def __init__(self, name: str, message: str, line: int = 0) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.line = line
        self.message = message


def rotation_key(path: str) -> tuple[str, str, int, str, str]:
    """Sort key putting rotated files of one log oldest first: dated, then numbered (high first), then current."""
    directory, name = path.rsplit("/", 1) if "/" in path else ("", path)
    stem = name
    for suffix in _COMPRESSION:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    numbered = _NUMBERED.match(stem)
    if numbered:
        # Ranked after dated files: a mixed set is unusual, and numbered files are the most recent rotations.
        return directory, numbered["base"], 1, f"{10**18 - int(numbered['n']):020d}", name
    dated = _DATED.match(stem)
    if dated:
        digits = re.sub(r"\D", "", dated["date"] + dated["rest"])
        return directory, dated["base"], 0, digits.ljust(20, "0"), name
    return directory, stem, 2, "", name


@dataclass(frozen=True, slots=True)
class Source:
    """One file to read: where it is and how big it is (for progress and ETA)."""

    name: str
    path: str
    size: int
    fs: Any = field(compare=False, repr=False)

    @property
    def local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)


def _is_hidden(path: str) -> bool:
    return PurePosixPath(path).name.startswith(".")


def _expand_one(arg: str) -> list[Source]:
    fs, path = fsspec.core.url_to_fs(arg)
    local = isinstance(fs, LocalFileSystem)
    if any(ch in arg for ch in "*?["):
        paths = [p for p in fs.glob(path) if fs.isfile(p)]
        if not paths:
            raise SourceError(arg, "no file matches this pattern")
    elif fs.isdir(path):
        paths = [p for p in fs.find(path) if not _is_hidden(p)]
    elif fs.exists(path):
        paths = [path]
    else:
        raise SourceError(arg, "no such file or directory")
    out = []
    for p in paths:
        name = p if local else fs.unstrip_protocol(p)
        out.append(Source(name=name, path=p, size=int(fs.size(p) or 0), fs=fs))
    return out


def expand(args: Iterable[str]) -> list[Source]:
    """Every file named by `args` (files, directories, globs, URLs), once each, oldest rotation first."""
    seen: dict[str, Source] = {}
    for arg in args:
        for source in _expand_one(arg):
            seen.setdefault(source.name, source)
    return sorted(seen.values(), key=lambda s: rotation_key(s.name))


class OpenSource:
    """A source opened for reading lines; `position()` is how many (compressed) bytes were consumed."""

    def __init__(self, source: Source) -> None:
        self.source = source
        try:
            if source.local:
                # Plain `open` is the fast path: fsspec's local wrapper adds a Python layer per read.
                self._raw: IO[bytes] = open(source.path, "rb", buffering=READ_BUFFER)  # noqa: SIM115
            else:
                self._raw = io.BufferedReader(source.fs.open(source.path, "rb"), buffer_size=READ_BUFFER)
            head = self._raw.peek(2)[:2] if hasattr(self._raw, "peek") else b""
        except OSError as exc:
            raise SourceError(source.name, f"cannot open: {exc}") from exc
        self._stream: IO[bytes] = gzip.GzipFile(fileobj=self._raw) if head == GZIP_MAGIC else self._raw  # type: ignore[assignment]

    def position(self) -> int:
        try:
            return int(self._raw.tell())
        except (OSError, ValueError):
            return 0

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """(1-based line number, raw line) for every line; a read failure raises SourceError with the line."""
        number = 0
        try:
            for number, line in enumerate(self._stream, start=1):  # noqa: B007 — number is used after the loop
                yield number, line
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise SourceError(self.source.name, f"unreadable after line {number}: {exc}", number + 1) from exc

    def close(self) -> None:
        self._stream.close()
        self._raw.close()

    def __enter__(self) -> OpenSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
