"""The stand-in schema registry's state: subjects, versions and global schema ids, rebuilt from registrations.

Pure and synchronous: the HTTP layer (`registry`) asks it what a registration
would be, makes that durable (`registry_log`), then applies it. Ids follow
Confluent's rules: one global id per distinct schema, whatever the subject;
re-registering a schema a subject already has returns its version and id
without creating a new version. Schemas are compared by canonical JSON, so
whitespace and key order do not create new ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


def canonical(schema: str) -> str:
    """The comparison form of a schema text; raises ValueError if it is not JSON."""
    return json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Registration:
    """One version of one subject: what the storage topic holds, one record each."""

    subject: str
    version: int
    schema_id: int
    schema: str

    @property
    def key(self) -> str:
        """The storage record key (unique per subject and version, so compaction keeps every one)."""
        return f"{self.subject}/{self.version}"

    def as_json(self) -> dict[str, Any]:
        """The record, in the shape of Confluent's `GET /subjects/{s}/versions/{v}` answer."""
        return {"subject": self.subject, "version": self.version, "id": self.schema_id, "schema": self.schema}

    @classmethod
    def from_json(cls, data: Any) -> Registration:
        """Parse a stored record; ValueError names what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"expected an object, got {type(data).__name__}")
        subject, version, schema_id, schema = (data.get(k) for k in ("subject", "version", "id", "schema"))
        if not isinstance(subject, str) or not isinstance(schema, str):
            raise ValueError("fields 'subject' and 'schema' must be strings")
        if not isinstance(version, int) or not isinstance(schema_id, int) or version < 1 or schema_id < 1:
            raise ValueError("fields 'version' and 'id' must be positive integers")
        return cls(subject=subject, version=version, schema_id=schema_id, schema=schema)


class RegistryState:
    """Subjects → versions, global ids → schema texts, and canonical texts → ids."""

    def __init__(self) -> None:
        self._schemas: dict[int, str] = {}
        self._ids: dict[str, int] = {}
        self._subjects: dict[str, dict[int, Registration]] = {}

    def apply(self, registration: Registration) -> None:
        """Record a registration (new, or replayed from storage in order)."""
        # The first text seen for an id is the one served back, as Confluent does.
        self._schemas.setdefault(registration.schema_id, registration.schema)
        self._ids.setdefault(canonical(registration.schema), registration.schema_id)
        self._subjects.setdefault(registration.subject, {})[registration.version] = registration

    def lookup(self, subject: str, schema: str) -> Registration | None:
        """The version of `subject` holding `schema` (canonically equal), if any."""
        schema_id = self._ids.get(canonical(schema))
        if schema_id is None:
            return None
        versions = self._subjects.get(subject, {})
        return next((r for r in versions.values() if r.schema_id == schema_id), None)

    def proposal(self, subject: str, schema: str) -> Registration:
        """What registering `schema` under `subject` would create (call after `lookup` found nothing)."""
        schema_id = self._ids.get(canonical(schema))
        if schema_id is None:
            schema_id = max(self._schemas, default=0) + 1
        else:
            schema = self._schemas[schema_id]
        version = max(self._subjects.get(subject, {}), default=0) + 1
        return Registration(subject=subject, version=version, schema_id=schema_id, schema=schema)

    def schema(self, schema_id: int) -> str | None:
        """The schema text of a global id."""
        return self._schemas.get(schema_id)

    def subjects(self) -> list[str]:
        """Every subject, sorted."""
        return sorted(self._subjects)

    def versions(self, subject: str) -> list[int] | None:
        """The versions of a subject, ascending; None if the subject is unknown."""
        versions = self._subjects.get(subject)
        return None if versions is None else sorted(versions)

    def version(self, subject: str, version: int | None) -> Registration | None:
        """One version of a subject (None: the latest)."""
        versions = self._subjects.get(subject, {})
        if version is None:
            return versions[max(versions)] if versions else None
        return versions.get(version)
