"""The output Avro schemas stay backward compatible with every released version kept in `tests/unit/schemas/`.

Downstream consumers hold records written with older schemas, and the field
names are a contract: a new schema must read old data (fastavro schema
resolution: write with the old schema, read with the new) and keep every old
field, while fields it adds need a default. When a schema changes on purpose,
keep the released one here as `<file>.v<N>.avsc`.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import pytest

from stream_app.codecs.avro import SCHEMA_FILES, schema_str

OLD_DIR = Path(__file__).resolve().parent / "schemas"
RECORD_OF_FILE = {file.removesuffix(".avsc"): record for record, file in SCHEMA_FILES.items()}
OLD_VERSIONS = sorted(OLD_DIR.glob("*.v*.avsc"))
MOMENT = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def sample(schema: Any, branch: int) -> Any:
    """A value of `schema`; `branch` picks the union member (0: first, -1: last), so both null and set get tried."""
    if isinstance(schema, list):
        return sample(schema[branch], branch)
    if isinstance(schema, str):
        schema = {"type": schema}
    kind = schema["type"]
    if isinstance(kind, (list, dict)):
        return sample(kind, branch)
    if schema.get("logicalType") in ("timestamp-micros", "timestamp-millis"):
        return MOMENT
    simple: dict[str, Any] = {
        "null": None, "boolean": True, "int": 7, "long": 1_700_000_000, "float": 1.5, "double": 2.5,
        "bytes": b"\x00\x01", "string": f"s-{branch}",
    }
    if kind in simple:
        return simple[kind]
    if kind == "record":
        return {field["name"]: sample(field["type"], branch) for field in schema["fields"]}
    if kind == "enum":
        return schema["symbols"][branch]
    if kind == "array":
        return [sample(schema["items"], branch)]
    if kind == "map":
        return {"k": sample(schema["values"], branch)}
    if kind == "fixed":
        return b"\x00" * schema["size"]
    raise AssertionError(f"sample() does not know Avro type {kind!r}")


def schemas(old_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(old, current) schema JSON for a kept version file such as `xapi_statement.v1.avsc`."""
    stem = old_path.name.split(".v", 1)[0]
    return json.loads(old_path.read_text()), json.loads(schema_str(RECORD_OF_FILE[stem]))


def test_every_schema_has_a_kept_version() -> None:
    kept = {path.name.split(".v", 1)[0] for path in OLD_VERSIONS}
    assert kept == set(RECORD_OF_FILE), "keep the released version of each schema in tests/unit/schemas/"


@pytest.mark.parametrize("old_path", OLD_VERSIONS, ids=lambda path: path.name)
def test_old_fields_kept_and_new_fields_have_defaults(old_path: Path) -> None:
    old, new = schemas(old_path)
    new_fields = {field["name"]: field for field in new["fields"]}
    for alias_owner in new["fields"]:
        for alias in alias_owner.get("aliases", []):
            new_fields.setdefault(alias, alias_owner)
    old_names = {field["name"] for field in old["fields"]}
    removed = sorted(old_names - set(new_fields))
    assert not removed, f"fields removed from {new['name']} (field names are a contract): {removed}"
    without_default = [f["name"] for f in new["fields"] if f["name"] not in old_names and "default" not in f]
    assert not without_default, f"new fields of {new['name']} need a default to read old data: {without_default}"
    assert (new["name"], new.get("namespace")) == (old["name"], old.get("namespace"))


@pytest.mark.parametrize("branch", [0, -1], ids=["first-union-branch", "last-union-branch"])
@pytest.mark.parametrize("old_path", OLD_VERSIONS, ids=lambda path: path.name)
def test_new_schema_reads_data_written_with_the_old_one(old_path: Path, branch: int) -> None:
    old, new = schemas(old_path)
    record = sample(old, branch)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(old), record)
    buffer.seek(0)
    read = fastavro.schemaless_reader(buffer, fastavro.parse_schema(old), fastavro.parse_schema(new))
    assert isinstance(read, dict)
    # Every current field: the old value where the old schema had it, else the new field's default.
    expected = {f["name"]: record[f["name"]] if f["name"] in record else f.get("default") for f in new["fields"]}
    assert read == expected
