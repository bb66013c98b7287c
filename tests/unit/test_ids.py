"""Statement ids must be byte-compatible with ERB (tincan's JSON forms and the raw timestamp)."""

from __future__ import annotations

import json
import uuid

from hypothesis import given
from hypothesis import strategies as st

from stream_app.transforms import ids

ACTOR = {"objectType": "Agent", "account": {"homePage": "http://localhost:18000",
                                            "name": "32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb"}}
VERB = {"id": "http://adlnet.gov/expapi/verbs/terminated", "display": {"en": "terminated"}}


def test_tincan_byte_forms() -> None:
    assert ids.actor_json(ACTOR) == (
        '{"objectType": "Agent", "account": {"name": "32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb", '
        '"homePage": "http://localhost:18000"}}'
    )
    assert ids.verb_json(VERB) == '{"id": "http://adlnet.gov/expapi/verbs/terminated", "display": {"en": "terminated"}}'
    assert ids.actor_json({"mbox": "mailto:a@b.c", "objectType": "Agent"}) == (
        '{"objectType": "Agent", "mbox": "mailto:a@b.c"}'
    )


def test_raw_timestamp_form_changes_the_id() -> None:
    t_form = ids.statement_id(VERB, ACTOR, "2020-07-15T06:36:01.917775+00:00")
    space_form = ids.statement_id(VERB, ACTOR, "2020-07-15 06:36:01.917775+00:00")
    assert t_form != space_form
    assert t_form == ids.statement_id(VERB, ACTOR, "2020-07-15T06:36:01.917775+00:00")


def test_child_ids_differ_from_parent() -> None:
    parent = ids.statement_id(VERB, ACTOR, "2020-01-01T00:00:00+00:00")
    child = ids.statement_id(VERB, ACTOR, "2020-01-01T00:00:00+00:00", child_id="abc_2_1")
    assert parent != child


def test_caliper_ids_are_deterministic_and_input_sensitive() -> None:
    a = ids.caliper_event_id("MediaEvent", "Paused", "http://x/user/1", "2020-01-01T00:00:00+00:00")
    assert a == ids.caliper_event_id("MediaEvent", "Paused", "http://x/user/1", "2020-01-01T00:00:00+00:00")
    assert a.startswith("urn:uuid:")
    assert a != ids.caliper_event_id("MediaEvent", "Resumed", "http://x/user/1", "2020-01-01T00:00:00+00:00")
    assert a != ids.caliper_event_id("MediaEvent", "Paused", "http://x/user/2", "2020-01-01T00:00:00+00:00")


@given(namespace=st.text(), name=st.text())
def test_uuid5_matches_the_standard_library(namespace: str, name: str) -> None:
    expected = uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_DNS, namespace), name)
    assert ids.uuid5_pair(namespace, name) == str(expected)


@given(child=st.one_of(st.none(), st.text(min_size=1)), timestamp=st.text())
def test_statement_id_is_erbs_formula(child: str | None, timestamp: str) -> None:
    # uuid5(uuid5(DNS, verb JSON [+ "-" + child]), actor JSON + "-" + raw timestamp), spelled out.
    key = ids.verb_json(VERB) if child is None else f"{ids.verb_json(VERB)}-{child}"
    expected = uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_DNS, key), f"{ids.actor_json(ACTOR)}-{timestamp}")
    assert ids.statement_id(VERB, ACTOR, timestamp, child_id=child) == str(expected)


def test_caliper_id_formula() -> None:
    key = json.dumps({"type": "MediaEvent", "action": "Paused"})
    expected = uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_DNS, key), "http://x/user/1-2020-01-01T00:00:00+00:00")
    assert ids.caliper_event_id("MediaEvent", "Paused", "http://x/user/1", "2020-01-01T00:00:00+00:00") == (
        f"urn:uuid:{expected}"
    )
