"""Caliper 1.1 behaviour beyond the fixtures: input shapes, page views, settings, lookups."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from stream_app.errors import MissingDimension, TransformError
from stream_app.tables.memory import MemoryLookup
from stream_app.transforms.dimensions import EmptyLookup

from .harness import MockLookup, cases, engine

ENGINE = engine()
LOOKUP = MockLookup()
BY_NAME = {case.name: case for case in cases()}
_SHIM = ("username", "session", "ip", "agent", "host", "referer", "accept_language", "event_source", "page")


def _tracking_shape(legacy: dict[str, Any]) -> dict[str, Any]:
    """The event-tracking event the legacy shim would have turned into `legacy`."""
    data = legacy["event"]
    context = {**legacy["context"], **{key: legacy[key] for key in _SHIM if key in legacy}}
    return {"name": legacy["event_type"], "timestamp": legacy["time"], "context": context,
            "data": json.loads(data) if isinstance(data, str) else data}


def _without_id(out: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(out) == 1
    return {k: v for k, v in out[0].items() if k != "id"}


@pytest.mark.parametrize("name", ["play_video", "edx.team.created", "problem_check(server)", "edx.cohort.user_added"])
def test_event_tracking_and_event_bus_shapes_match_the_legacy_record(name: str) -> None:
    case = BY_NAME[name]
    want = case.want
    want.pop("id")
    tracking = _tracking_shape(case.event)
    assert _without_id(ENGINE.transform("caliper11", tracking, LOOKUP)) == want
    bus = {"tracking_log": {**tracking, "data": orjson.dumps(tracking["data"]).decode(),
                            "context": orjson.dumps(tracking["context"]).decode()}}
    assert _without_id(ENGINE.transform("caliper11", bus, LOOKUP)) == want


def test_legacy_event_type_names_the_event_not_name() -> None:
    case = BY_NAME["video_hide_cc_menu"]
    assert case.event["name"] != case.event["event_type"]
    result = ENGINE.run("caliper11", case.event, LOOKUP)
    assert result.name == "video_hide_cc_menu" and result.output[0]["action"] == "Hid"


def test_page_view_is_a_navigation_with_the_whole_context() -> None:
    event = {**BY_NAME["page_close"].event, "event_type": "/courses/course-v1:edX+DemoX+Demo_Course/info",
             "event": '{"POST": {}, "GET": {}}'}
    del event["name"]
    with pytest.raises(TransformError, match="not_allowed"):  # CT never delivered page views: opt-in
        ENGINE.transform("caliper11", event, LOOKUP)
    views = engine()
    views.filters["caliper11"] = views.filters["caliper11"].with_page_views()
    out = views.transform("caliper11", event, LOOKUP)[0]
    assert (out["type"], out["action"]) == ("NavigationEvent", "NavigatedTo")
    assert out["object"] == {"id": event["referer"], "type": "WebPage", "extensions": '{"POST": {}, "GET": {}}'}
    assert out["actor"] == {"id": f"http://localhost:18000/u/{event['username']}", "type": "Person"}
    assert out["extensions"]["extra_fields"]["path"] == event["context"]["path"]
    assert "ip" not in out["extensions"]["extra_fields"]  # CT adds no IP to page views


def test_personal_data_setting_removes_username_ip_and_agent() -> None:
    private = engine(caliper11_personal_data=False)
    for name in ("play_video", "edx.cohort.user_added", "edx.certificate.created"):
        out = private.transform("caliper11", BY_NAME[name].event, LOOKUP)[0]
        extra = out["extensions"]["extra_fields"]
        assert not {"ip", "agent", "username"} & set(extra)
        assert "name" not in out["actor"]
        assert "name" not in out["object"].get("member", {})
        full = ENGINE.transform("caliper11", BY_NAME[name].event, LOOKUP)[0]
        assert out["type"] == full["type"] and out["object"]["id"] == full["object"]["id"]


def test_anonymous_and_referer_less_events_are_clean_rejects() -> None:
    anonymous = {**BY_NAME["play_video"].event, "username": ""}
    with pytest.raises(TransformError, match="^anonymous_user$"):
        ENGINE.transform("caliper11", anonymous, LOOKUP)
    no_referer = {**BY_NAME["seq_next"].event, "referer": ""}
    with pytest.raises(TransformError, match="^missing_field:object.id$"):
        ENGINE.transform("caliper11", no_referer, LOOKUP)


def test_unknown_member_or_team_waits_for_its_dimension() -> None:
    with pytest.raises(MissingDimension, match="^unknown_user$"):
        ENGINE.transform("caliper11", BY_NAME["edx.cohort.user_added"].event, EmptyLookup())
    with pytest.raises(MissingDimension, match="^unknown_team$"):
        ENGINE.transform("caliper11", BY_NAME["edx.team.created"].event, EmptyLookup())
    # A learner removed with their team is addressed by the referer: only the member is looked up.
    with pytest.raises(MissingDimension, match="^unknown_user$"):
        ENGINE.transform("caliper11", BY_NAME["edx.team.learner_removed(team_deleted)"].event, EmptyLookup())


def test_memory_lookup_answers_members_and_teams_from_cdc() -> None:
    lookup = MemoryLookup()
    lookup.load([
        {"topic": "openedx.cdc.auth_user", "key": {"id": 2},
         "value": {"op": "c", "after": {"id": 2, "username": "honor", "email": "h@example.com"}}},
        {"topic": "openedx.cdc.teams_courseteam", "key": {"id": 7},
         "value": {"op": "c", "after": {"id": 7, "team_id": "check-1", "topic_id": "Topic1ID",
                                         "course_id": "course-v1:edX+DemoX+Demo_Course"}}},
    ])
    assert lookup.username(2) == "honor" and lookup.username("2") == "honor" and lookup.username(3) is None
    team = lookup.team("check-1")
    assert team is not None and team.topic_id == "Topic1ID"
    lookup.load([{"topic": "openedx.cdc.teams_courseteam", "key": {"id": 7},
                  "value": {"op": "d", "before": {"id": 7, "team_id": "check-1", "topic_id": "Topic1ID"}}}])
    assert lookup.team("check-1") is None


def test_events_already_normalised_by_the_worker_give_the_same_output() -> None:
    """The worker's pipeline hands `transform` events that went through `normalise` (it adds `data`)."""
    from stream_app.transforms.normalise import normalise

    compat = engine(caliper11_passthrough=True)
    for case in cases():
        normalised = normalise(case.event)
        assert ENGINE.event_name("caliper11", normalised) == case.event["event_type"]
        if case.passthrough:
            assert compat.transform("caliper11", normalised, LOOKUP) == [{**case.event, "name": normalised["name"],
                                                                          "id": None}]
            continue
        assert ENGINE.transform("caliper11", normalised, LOOKUP) == ENGINE.transform("caliper11", case.event, LOOKUP)
