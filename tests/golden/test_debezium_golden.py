"""ERB's golden xAPI fixtures with their users from Debezium rows (char(32) UUIDs): the statements, ids included,
equal ERB's expected files and the engine's own output from the equivalent JSON seed."""

from __future__ import annotations

import pytest

from stream_app.errors import TransformError
from stream_app.tables.memory import MemoryLookup
from tests.debezium import Connector

from .erb_db import erb_database
from .harness import cases, erb_engine, erb_lookup

ENGINE = erb_engine()
XAPI_CASES = [c for c in cases() if c.path.parent.parent.name == "erb" and c.event["name"] in ENGINE.registries["xapi"]]


def debezium_lookup(connector: Connector) -> MemoryLookup:
    lookup = MemoryLookup(namespace=None)
    for record in connector.snapshot(erb_database()):
        lookup.apply(record["topic"], record["key"], record["value"])
    return lookup


def test_the_debezium_records_carry_char32_uuids() -> None:
    records = Connector().snapshot(erb_database())
    ext = [r["value"]["after"] for r in records if r["topic"] == "lms.openedx.external_user_ids_externalid"]
    assert ext and all(len(row["external_user_id"]) == 32 and "-" not in row["external_user_id"] for row in ext)


@pytest.mark.parametrize("connector", [Connector(), Connector(schemas=True), Connector(flatten=True)],
                         ids=["envelope", "schemas", "flattened"])
def test_erb_statements_from_debezium_users(connector: Connector) -> None:
    lookup, seeded = debezium_lookup(connector), erb_lookup()
    assert lookup.stores == seeded.stores
    compared = 0
    for case in XAPI_CASES:
        expected = case.expected("xapi")
        if expected is None or expected[0] != "output":
            continue
        try:
            out = ENGINE.transform("xapi", case.event, lookup)
        except TransformError as exc:  # pragma: no cover - a failure message names the case
            pytest.fail(f"{case.name}: {exc}")
        want = expected[1] if isinstance(expected[1], list) else [expected[1]]
        assert out == want, case.name
        assert out == ENGINE.transform("xapi", case.event, seeded), case.name
        compared += len(out)
    assert compared >= 80  # ERB's fixture events (81, one with two statements) minus its rejects
