"""A development stand-in for a Confluent schema registry — NOT a production registry.

No Confluent-compatible registry installs on our development machines, so
`stream-app registry` serves the small part of Confluent's REST API that
confluent-kafka's AvroSerializer and AvroDeserializer call: register
(`POST /subjects/{s}/versions`), look up (`POST /subjects/{s}`), fetch by id
(`GET /schemas/ids/{id}`) and list (`GET /subjects`, `GET /subjects/{s}/versions`,
`GET /subjects/{s}/versions/{v}`), with Confluent's ids, status codes and error
bodies. Everything else answers 404. It checks no compatibility, supports
neither deletes nor schema references, and handles Avro only. Registrations are
stored in a compacted Kafka topic (`registry_log`) and replayed on start, or kept
in memory when no broker is given. Use Confluent Schema Registry (or Karapace,
Apicurio) in production; docker-compose.yml shows how.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import fastavro
from aiohttp import web

from stream_app.devstack.registry_log import KafkaRegistryLog, RegistryStorageError
from stream_app.devstack.registry_state import Registration, RegistryState
from stream_app.errors import StreamAppError
from stream_app.kafka import bootstrap_servers
from stream_app.topics import topics

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
# Confluent's error codes (status code + two digits), as clients match on them.
SUBJECT_NOT_FOUND, VERSION_NOT_FOUND, SCHEMA_NOT_FOUND = 40401, 40402, 40403
INVALID_SCHEMA, INVALID_VERSION, STORE_ERROR = 42201, 42202, 50001
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(StreamAppError):
    """An error answered with Confluent's JSON error body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class SchemaRegistry:
    """The registry's behaviour, independent of HTTP: state, its durable log, and one writer at a time."""

    def __init__(self, storage: KafkaRegistryLog | None = None) -> None:
        self.state = RegistryState()
        self.storage = storage
        self._write_lock = asyncio.Lock()

    async def load(self) -> int:
        """Create the storage topic if needed and replay it; the number of registrations restored."""
        if self.storage is None:
            return 0
        await asyncio.to_thread(self.storage.ensure_topic)
        registrations = await asyncio.to_thread(self.storage.read_all)
        for registration in registrations:
            self.state.apply(registration)
        return len(registrations)

    async def register(self, subject: str, schema: str) -> Registration:
        """The registration of `schema` under `subject`, created and stored if new."""
        # One writer at a time, so two concurrent requests cannot take the same version or id.
        async with self._write_lock:
            existing = self.state.lookup(subject, schema)
            if existing is not None:
                return existing
            registration = self.state.proposal(subject, schema)
            if self.storage is not None:
                try:
                    await asyncio.to_thread(self.storage.append, registration)
                except RegistryStorageError as exc:
                    raise ApiError(500, STORE_ERROR, f"Error while registering schema: {exc}") from exc
            self.state.apply(registration)
            log.info("registered %s version %d as id %d", subject, registration.version, registration.schema_id)
            return registration


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, content_type=CONTENT_TYPE)


async def _schema_from(request: web.Request) -> str:
    """The Avro schema text of a register/lookup body, validated; ApiError 422 otherwise."""
    try:
        body = json.loads(await request.read())
    except ValueError as exc:
        raise ApiError(400, 400, f"Malformed request body: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
        raise ApiError(422, INVALID_SCHEMA, "Invalid schema: the body needs a 'schema' string")
    if body.get("schemaType", "AVRO") != "AVRO":
        raise ApiError(422, INVALID_SCHEMA, "Invalid schema: this development registry handles AVRO only")
    if body.get("references"):
        raise ApiError(422, INVALID_SCHEMA, "Invalid schema: this development registry does not support references")
    schema: str = body["schema"]
    try:
        fastavro.parse_schema(json.loads(schema))
    except (ValueError, TypeError, KeyError, AttributeError, fastavro.schema.SchemaParseException) as exc:
        raise ApiError(422, INVALID_SCHEMA, f"Invalid schema: {type(exc).__name__}: {exc}") from exc
    return schema


def _versions_or_404(registry: SchemaRegistry, subject: str) -> list[int]:
    versions = registry.state.versions(subject)
    if versions is None:
        raise ApiError(404, SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")
    return versions


def routes(registry: SchemaRegistry) -> web.RouteTableDef:
    """The served endpoints, bound to one registry."""
    table = web.RouteTableDef()

    @table.post("/subjects/{subject}/versions")
    async def register(request: web.Request) -> web.Response:
        registration = await registry.register(request.match_info["subject"], await _schema_from(request))
        return _json({"id": registration.schema_id})

    @table.post("/subjects/{subject}")
    async def lookup(request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        schema = await _schema_from(request)
        _versions_or_404(registry, subject)
        found = registry.state.lookup(subject, schema)
        if found is None:
            raise ApiError(404, SCHEMA_NOT_FOUND, "Schema not found")
        return _json(found.as_json())

    @table.get("/schemas/ids/{schema_id}")
    async def by_id(request: web.Request) -> web.Response:
        raw = request.match_info["schema_id"]
        schema = registry.state.schema(int(raw)) if raw.isdigit() else None
        if schema is None:
            raise ApiError(404, SCHEMA_NOT_FOUND, f"Schema {raw} not found")
        return _json({"schema": schema})

    @table.get("/subjects")
    async def subjects(request: web.Request) -> web.Response:
        return _json(registry.state.subjects())

    @table.get("/subjects/{subject}/versions")
    async def versions(request: web.Request) -> web.Response:
        return _json(_versions_or_404(registry, request.match_info["subject"]))

    @table.get("/subjects/{subject}/versions/{version}")
    async def version(request: web.Request) -> web.Response:
        subject, raw = request.match_info["subject"], request.match_info["version"]
        if raw not in ("latest", "-1") and not (raw.isdigit() and 0 < int(raw) < 2**31):
            raise ApiError(
                422, INVALID_VERSION,
                f"The specified version '{raw}' is not a valid version id. "
                'Allowed values are between [1, 2^31-1] and the string "latest"',
            )
        _versions_or_404(registry, subject)
        found = registry.state.version(subject, None if raw in ("latest", "-1") else int(raw))
        if found is None:
            raise ApiError(404, VERSION_NOT_FOUND, f"Version {raw} not found.")
        return _json(found.as_json())

    return table


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer errors with Confluent's JSON body, which clients parse into SchemaRegistryError."""
    try:
        return await handler(request)
    except ApiError as exc:
        return _json({"error_code": exc.code, "message": exc.message}, status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _json({"error_code": exc.status, "message": f"HTTP {exc.status} {exc.reason}"}, status=exc.status)


def create_app(registry: SchemaRegistry) -> web.Application:
    """The aiohttp application serving `registry`."""
    app = web.Application(middlewares=[_errors])
    app.add_routes(routes(registry))
    return app


async def run_registry(host: str, port: int, bootstrap: str | None, *, topic: str | None = None) -> None:
    """Serve the registry until cancelled; with `bootstrap` (`host:port` or `kafka://...`), stored in Kafka."""
    storage = None
    if bootstrap:
        spec = topics().schemas
        storage = KafkaRegistryLog(bootstrap_servers(bootstrap), replace(spec, name=topic) if topic else spec)
    registry = SchemaRegistry(storage)
    restored = await registry.load()
    runner = web.AppRunner(create_app(registry), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        where = f"topic {storage.topic} on {storage.bootstrap}" if storage else "memory only"
        log.info("schema registry (development stand-in) on http://%s:%d, storage: %s, %d registration(s) restored",
                 host, port, where, restored)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        if storage is not None:
            await asyncio.to_thread(storage.close)
