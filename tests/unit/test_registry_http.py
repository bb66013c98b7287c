"""The development schema registry's HTTP contract, in memory: Confluent's ids, status codes and error bodies.

These run the aiohttp app in-process without a broker; the integration tests
cover storage, restarts and confluent-kafka's own client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from stream_app.devstack.registry import CONTENT_TYPE, SchemaRegistry, create_app

Scenario = Callable[[TestClient[Any, Any]], Awaitable[None]]
STRING = '{"type": "string"}'
RECORD = json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]})


def run(scenario: Scenario) -> None:
    async def main() -> None:
        async with TestClient(TestServer(create_app(SchemaRegistry()))) as client:
            await scenario(client)

    asyncio.run(main())


async def call(client: TestClient[Any, Any], method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body)
    response = await client.request(method, path, data=data, headers={"Content-Type": CONTENT_TYPE})
    assert response.content_type == CONTENT_TYPE
    return response.status, await response.json(content_type=None)


def test_register_lookup_and_fetch() -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        assert await call(client, "POST", "/subjects/s-value/versions", {"schema": STRING}) == (200, {"id": 1})
        assert await call(client, "POST", "/subjects/s-value/versions", {"schema": RECORD}) == (200, {"id": 2})
        # Whitespace does not make a new schema; registering again returns the existing id.
        assert await call(client, "POST", "/subjects/s-value/versions", {"schema": '{"type":"string"}'}) == (
            200, {"id": 1})
        assert await call(client, "GET", "/subjects/s-value/versions") == (200, [1, 2])
        assert await call(client, "POST", "/subjects/s-value", {"schema": RECORD}) == (
            200, {"subject": "s-value", "version": 2, "id": 2, "schema": RECORD})
        assert await call(client, "GET", "/schemas/ids/2") == (200, {"schema": RECORD})
        assert await call(client, "GET", "/subjects/s-value/versions/latest") == (
            200, {"subject": "s-value", "version": 2, "id": 2, "schema": RECORD})
        assert (await call(client, "GET", "/subjects/s-value/versions/1"))[1]["id"] == 1
        assert await call(client, "POST", "/subjects/t-value/versions", {"schema": RECORD}) == (200, {"id": 2})
        assert await call(client, "GET", "/subjects") == (200, ["s-value", "t-value"])

    run(scenario)


def test_confluent_error_codes() -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        await call(client, "POST", "/subjects/s-value/versions", {"schema": STRING})
        assert await call(client, "POST", "/subjects/s-value", {"schema": RECORD}) == (
            404, {"error_code": 40403, "message": "Schema not found"})
        assert (await call(client, "POST", "/subjects/nope", {"schema": STRING}))[1]["error_code"] == 40401
        assert (await call(client, "GET", "/schemas/ids/99"))[1]["error_code"] == 40403
        assert (await call(client, "GET", "/schemas/ids/x"))[0] == 404
        assert (await call(client, "GET", "/subjects/nope/versions"))[1]["error_code"] == 40401
        assert (await call(client, "GET", "/subjects/s-value/versions/7"))[1]["error_code"] == 40402
        assert (await call(client, "GET", "/subjects/s-value/versions/zero"))[1]["error_code"] == 42202
        assert (await call(client, "GET", "/config"))[0] == 404

    run(scenario)


def test_invalid_bodies_are_rejected_and_change_nothing() -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        for body in (
            {"schema": "{not json"},
            {"schema": '{"type": "no-such-type"}'},
            {"schema": STRING, "schemaType": "PROTOBUF"},
            {"schema": STRING, "references": [{"name": "x", "subject": "y", "version": 1}]},
            {"schemata": STRING},
        ):
            status, error = await call(client, "POST", "/subjects/s-value/versions", body)
            assert (status, error["error_code"]) == (422, 42201), body
        response = await client.post("/subjects/s-value/versions", data=b"\xff not json")
        assert response.status == 400
        assert await call(client, "GET", "/subjects") == (200, [])

    run(scenario)
