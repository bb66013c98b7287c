"""Small valid xAPI statements and Caliper events for delivery tests and the delivery benchmark."""

from __future__ import annotations

import uuid
from typing import Any

NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")


def statement(n: int, tag: str = "t") -> dict[str, Any]:
    """A valid statement with a deterministic id (same n and tag: same statement)."""
    return {
        "id": str(uuid.uuid5(NAMESPACE, f"{tag}-{n}")),
        "actor": {"objectType": "Agent", "account": {"homePage": "http://lms.example.org", "name": f"user-{n % 50}"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced", "display": {"en": "experienced"}},
        "object": {"objectType": "Activity", "id": f"http://lms.example.org/xblock/block-{n % 97}"},
        "timestamp": "2024-05-01T10:00:00.000Z",
        "version": "1.0.3",
    }


def invalid_statement(n: int) -> dict[str, Any]:
    """A statement any LRS refuses: no verb."""
    bad = statement(n, tag="invalid")
    del bad["verb"]
    return bad


def caliper_event(n: int) -> dict[str, Any]:
    """A bare Caliper event."""
    return {
        "@context": "http://purl.imsglobal.org/ctx/caliper/v1p2",
        "id": f"urn:uuid:{uuid.uuid5(NAMESPACE, f'caliper-{n}')}",
        "type": "NavigationEvent",
        "action": "NavigatedTo",
        "actor": {"id": f"http://lms.example.org/user/{n}", "type": "Person"},
        "object": {"id": "http://lms.example.org/course/c1", "type": "WebPage"},
        "eventTime": "2024-05-01T10:00:00.000Z",
    }
