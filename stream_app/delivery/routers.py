"""The routers file (`STREAM_APP_ROUTERS_FILE`): parse, validate, and match events with ERB's semantics.

The YAML shape is a contract (ARCHITECTURE.md, "Delivery"). `${VAR}` anywhere
in a value is replaced by that environment variable, so secrets stay out of the
file; a missing variable, an unknown format, an invalid regex or a malformed
field stops start-up with a message naming the router and the field. Secrets
are kept as `SecretStr` and never appear in messages or reprs.

`match_params` keeps ERB's rules: each key is an exact dotted path on the
original event; every key must match (AND), any pattern of a list may match
(OR); a match is an unanchored `re.search`; a value that is not a string never
matches. `override_args` is a shallow update of the statement (xAPI) or the
envelope (Caliper) root.

An entry with `type: clickhouse` is a ClickHouse sink compatible with Open edX
Aspects (`ClickHouseRouter`, used by `stream_app.sinks.clickhouse`); the default
type, `http`, is the LRS/Caliper router above. `load_routers` returns only the
HTTP routers and `load_clickhouse_routers` only the sinks, so each delivery path
sees just its own kind while names stay unique across the whole file.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import SecretStr

from stream_app.errors import StreamAppError
from stream_app.settings import parse_duration
from stream_app.transforms.event import dotted

_NAME = re.compile(r"^[a-z0-9-]+$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# `${VAR}` is not valid inside a YAML flow mapping (`{password: ${X}}`), yet the contract's example uses it:
# references become plain tokens before parsing and are resolved in the parsed values.
_TOKEN = re.compile(r"__stream_app_env__([A-Za-z_][A-Za-z0-9_]*)__")
_KEYS = {"name", "type", "format", "url", "auth", "match_params", "override_args", "headers", "batch", "timeout",
         "retry_delays"}


class RoutersFileError(StreamAppError, ValueError):
    """The routers file is invalid; the message names the router and field."""


@dataclass(frozen=True)
class Auth:
    """How to authenticate to the router's endpoint."""

    type: Literal["none", "basic", "bearer"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None

    def header(self) -> dict[str, str]:
        """The Authorization header (empty for none)."""
        if self.type == "basic" and self.username is not None and self.password is not None:
            raw = f"{self.username}:{self.password.get_secret_value()}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        if self.type == "bearer" and self.token is not None:
            return {"Authorization": f"Bearer {self.token.get_secret_value()}"}
        return {}


@dataclass(frozen=True)
class Router:
    """One delivery destination."""

    name: str
    format: Literal["xapi", "caliper", "caliper11"]
    url: str
    auth: Auth = field(default_factory=Auth)
    match_params: Mapping[str, tuple[re.Pattern[str], ...]] = field(default_factory=dict)
    override_args: Mapping[str, Any] = field(default_factory=dict)
    # Kept out of repr: ERB's documentation puts API tokens in custom headers.
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    batch_size: int = 100
    batch_max_wait: float = 1.0
    timeout: float = 10.0
    retry_delays: tuple[float, ...] = (30.0, 300.0, 1800.0)

    def matches(self, event: Mapping[str, Any]) -> bool:
        """ERB's `match_params`: AND across keys, OR within a key's patterns, unanchored search on strings."""
        for path, patterns in self.match_params.items():
            value = dotted(event, path)
            if not isinstance(value, str) or not any(p.search(value) for p in patterns):
                return False
        return True

    def override(self, root: Mapping[str, Any]) -> dict[str, Any]:
        """A shallow copy of the statement (xAPI) or envelope (Caliper) with `override_args` applied."""
        out = dict(root)
        out.update(self.override_args)
        return out


def _substitute(value: Any, where: str, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise RoutersFileError(f"{where}: environment variable {name} is not set")
            return env[name]
        return _TOKEN.sub(repl, value)
    if isinstance(value, list):
        return [_substitute(v, f"{where}[{i}]", env) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _substitute(v, f"{where}.{k}", env) for k, v in value.items()}
    return value


def _duration(value: Any, where: str) -> float:
    try:
        seconds = parse_duration(value)
    except (ValueError, TypeError) as exc:
        raise RoutersFileError(f"{where}: {exc}") from None
    if seconds < 0:
        raise RoutersFileError(f"{where}: must not be negative")
    return seconds


def _batch(raw: dict[str, Any], where: str, default_size: int) -> tuple[int, float]:
    """`batch: {size, max_wait}` → (size, seconds), for every router type."""
    batch = raw.get("batch") or {}
    if not isinstance(batch, dict):
        raise RoutersFileError(f"{where}: field 'batch' must be a mapping with size and max_wait")
    size = batch.get("size", default_size)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise RoutersFileError(f"{where}: field 'batch.size' must be a positive integer")
    return size, _duration(batch.get("max_wait", "1s"), f"{where}: field 'batch.max_wait'")


def _retry_delays(raw: dict[str, Any], where: str) -> tuple[float, ...]:
    """`retry_delays` (default 30 s, 5 min, 30 min), one retry topic each."""
    delays = raw.get("retry_delays", ["30s", "5m", "30m"])
    if not isinstance(delays, list) or not delays:
        # At least one: the first retry topic is also where re-driven and re-delivered records go.
        raise RoutersFileError(f"{where}: field 'retry_delays' must be a non-empty list of durations")
    return tuple(_duration(d, f"{where}: field 'retry_delays[{i}]'") for i, d in enumerate(delays))


def _patterns(raw: Any, where: str) -> dict[str, tuple[re.Pattern[str], ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RoutersFileError(f"{where}: expected a mapping of dotted paths to patterns")
    out: dict[str, tuple[re.Pattern[str], ...]] = {}
    for path, value in raw.items():
        items = value if isinstance(value, list) else [value]
        compiled = []
        for pattern in items:
            if not isinstance(pattern, str):
                raise RoutersFileError(f"{where}.{path}: patterns must be strings, got {pattern!r}")
            try:
                compiled.append(re.compile(pattern))
            except re.error as exc:
                raise RoutersFileError(f"{where}.{path}: invalid regular expression {pattern!r}: {exc}") from None
        out[str(path)] = tuple(compiled)
    return out


def _auth(raw: Any, where: str) -> Auth:
    if raw is None:
        return Auth()
    if not isinstance(raw, dict) or raw.get("type", "none") not in ("none", "basic", "bearer"):
        raise RoutersFileError(f"{where}.type: must be none, basic or bearer")
    kind = raw.get("type", "none")
    if kind == "basic":
        for key in ("username", "password"):
            if not raw.get(key):
                raise RoutersFileError(f"{where}.{key}: required for basic auth")
        return Auth("basic", username=str(raw["username"]), password=SecretStr(str(raw["password"])))
    if kind == "bearer":
        if not raw.get("token"):
            raise RoutersFileError(f"{where}.token: required for bearer auth")
        return Auth("bearer", token=SecretStr(str(raw["token"])))
    return Auth()


def _router(raw: Any, index: int, env: Mapping[str, str]) -> Router | ClickHouseRouter:
    label = f"router #{index + 1}"
    if not isinstance(raw, dict):
        raise RoutersFileError(f"{label}: expected a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise RoutersFileError(f"{label}: field 'name' must match [a-z0-9-]+, got {name!r}")
    where = f"router {name!r}"
    kind = raw.get("type", "http")
    if kind == "clickhouse":
        return _clickhouse_router(raw, name, where, env)
    if kind != "http":
        raise RoutersFileError(f"{where}: field 'type' must be http or clickhouse, got {kind!r}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise RoutersFileError(f"{where}: unknown field(s) {sorted(unknown)}")
    raw = _substitute(raw, where, env)
    if raw.get("format") not in ("xapi", "caliper", "caliper11"):
        raise RoutersFileError(f"{where}: field 'format' must be xapi, caliper or caliper11, "
                               f"got {raw.get('format')!r}")
    url = raw.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise RoutersFileError(f"{where}: field 'url' must be an http(s) URL")
    for key in ("override_args", "headers"):
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            raise RoutersFileError(f"{where}: field '{key}' must be a mapping")
    size, max_wait = _batch(raw, where, default_size=100)
    return Router(
        name=name,
        format=raw["format"],
        url=url,
        auth=_auth(raw.get("auth"), f"{where}: field 'auth'"),
        match_params=_patterns(raw.get("match_params"), f"{where}: field 'match_params'"),
        override_args=dict(raw.get("override_args") or {}),
        headers={str(k): str(v) for k, v in (raw.get("headers") or {}).items()},
        batch_size=size,
        batch_max_wait=max_wait,
        timeout=_duration(raw.get("timeout", "10s"), f"{where}: field 'timeout'"),
        retry_delays=_retry_delays(raw, where),
    )


def load_all_routers(path: str | Path, env: Mapping[str, str] | None = None) -> list[Router | ClickHouseRouter]:
    """Parse and validate every entry of a routers file; raises RoutersFileError naming the router and field."""
    env = os.environ if env is None else env
    try:
        text = _VAR.sub(lambda m: f"__stream_app_env__{m.group(1)}__", Path(path).read_text())
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise RoutersFileError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("routers"), list):
        raise RoutersFileError(f"{path}: expected a top-level 'routers' list")
    routers: list[Router | ClickHouseRouter] = [_router(raw, i, env) for i, raw in enumerate(data["routers"])]
    names = [r.name for r in routers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RoutersFileError(f"{path}: router name(s) used twice: {duplicates}")
    return routers


def load_routers(path: str | Path, env: Mapping[str, str] | None = None) -> list[Router]:
    """The HTTP routers (LRS, Caliper endpoints) of a validated routers file."""
    return [r for r in load_all_routers(path, env) if isinstance(r, Router)]


def load_clickhouse_routers(path: str | Path, env: Mapping[str, str] | None = None) -> list[ClickHouseRouter]:
    """The ClickHouse sinks (`type: clickhouse`) of a validated routers file."""
    return [r for r in load_all_routers(path, env) if isinstance(r, ClickHouseRouter)]


# -- type: clickhouse ---------------------------------------------------------------------------
CLICKHOUSE_OBJECTS = ("statements", "course_overviews", "course_blocks", "user_profile", "external_id",
                      "course_enrollment")
# Aspects' EVENT_SINK_CLICKHOUSE_PII_MODELS: sent only when the operator opts in with `pii: true`.
PII_OBJECTS = ("user_profile", "external_id")
_CH_KEYS = {"name", "type", "url", "databases", "username", "password", "batch", "objects", "pii", "timeout",
            "retry_delays"}


@dataclass(frozen=True)
class ClickHouseRouter:
    """A ClickHouse sink for Aspects: `http(s)://` server (clickhouse-connect) or `chdb://PATH` (embedded)."""

    name: str
    url: str
    databases: Mapping[str, str] = field(default_factory=lambda: {"xapi": "xapi", "event_sink": "event_sink"})
    username: str = "default"
    password: SecretStr | None = None
    # ClickHouse wants few, large inserts (>= 1,000 rows, or <= 1 insert/s): flush at 10,000 rows or 1 s.
    batch_size: int = 10_000
    batch_max_wait: float = 1.0
    objects: tuple[str, ...] = ("statements", "course_overviews", "course_blocks", "course_enrollment")
    pii: bool = False
    timeout: float = 30.0
    retry_delays: tuple[float, ...] = (30.0, 300.0, 1800.0)
    type: Literal["clickhouse"] = "clickhouse"

    @property
    def chdb_path(self) -> str | None:
        """The embedded database directory for a `chdb://PATH` URL, else None."""
        return self.url[len("chdb://"):] if self.url.startswith("chdb://") else None


def _clickhouse_router(raw: dict[str, Any], name: str, where: str, env: Mapping[str, str]) -> ClickHouseRouter:
    unknown = set(raw) - _CH_KEYS
    if unknown:
        raise RoutersFileError(f"{where}: unknown field(s) {sorted(unknown)} for type clickhouse")
    raw = _substitute(raw, where, env)
    url = raw.get("url")
    if not isinstance(url, str) or not (url.startswith(("http://", "https://")) or len(url) > len("chdb://")
                                        and url.startswith("chdb://")):
        raise RoutersFileError(f"{where}: field 'url' must be an http(s) URL or chdb://PATH, got {url!r}")
    databases = {"xapi": "xapi", "event_sink": "event_sink"}
    given = raw.get("databases") or {}
    if not isinstance(given, dict) or set(given) - set(databases):
        raise RoutersFileError(f"{where}: field 'databases' must be a mapping with keys xapi and event_sink")
    for key, value in given.items():
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise RoutersFileError(f"{where}: field 'databases.{key}' must be a database name, got {value!r}")
        databases[key] = value
    pii = raw.get("pii", False)
    if not isinstance(pii, bool):
        raise RoutersFileError(f"{where}: field 'pii' must be true or false")
    objects = raw.get("objects")
    if objects is None:
        objects = [o for o in CLICKHOUSE_OBJECTS if pii or o not in PII_OBJECTS]
    if not isinstance(objects, list) or not objects or any(o not in CLICKHOUSE_OBJECTS for o in objects):
        raise RoutersFileError(f"{where}: field 'objects' must be a non-empty list of {', '.join(CLICKHOUSE_OBJECTS)}")
    personal = sorted(set(objects) & set(PII_OBJECTS))
    if personal and not pii:
        raise RoutersFileError(f"{where}: field 'objects' lists personal data {personal}: set 'pii: true' to send it")
    size, max_wait = _batch(raw, where, default_size=10_000)
    username = raw.get("username", "default")
    if not isinstance(username, str) or not username:
        raise RoutersFileError(f"{where}: field 'username' must be a non-empty string")
    password = raw.get("password")
    return ClickHouseRouter(
        name=name,
        url=url,
        databases=databases,
        username=username,
        password=None if password is None else SecretStr(str(password)),
        batch_size=size,
        batch_max_wait=max_wait,
        objects=tuple(dict.fromkeys(objects)),
        pii=pii,
        timeout=_duration(raw.get("timeout", "30s"), f"{where}: field 'timeout'"),
        retry_delays=_retry_delays(raw, where),
    )


def configured(settings: Any) -> tuple[list[Router], list[ClickHouseRouter]]:
    """The HTTP routers and ClickHouse sinks of `settings.routers_file`, read once (none when it is not set);
    errors stop start-up."""
    if not settings.routers_file:
        return [], []
    everything = load_all_routers(settings.routers_file)
    routers = [r for r in everything if isinstance(r, Router)]
    sinks = [r for r in everything if isinstance(r, ClickHouseRouter)]
    _check_enabled(routers, settings.format_list())
    _check_enabled(sinks, settings.format_list())
    return routers, sinks


def configured_routers(settings: Any) -> list[Router]:
    """The HTTP routers of `settings.routers_file` (see `configured`)."""
    return configured(settings)[0]


def source(router: Router | ClickHouseRouter) -> str:
    """The output format (topic key) a router reads: its own, or the xAPI statements for ClickHouse sinks."""
    return router.format if isinstance(router, Router) else "xapi"


def _check_enabled(routers: list[Router] | list[ClickHouseRouter], formats: tuple[str, ...]) -> None:
    # A router of a format no worker produces would wait forever on an empty topic, silently.
    for router in routers:
        needed = source(router)
        if needed not in formats:
            raise RoutersFileError(f"router {router.name!r}: field 'format' needs the {needed} output, which "
                                   f"STREAM_APP_FORMATS ({','.join(formats)}) does not enable")
