"""Coverage: the registry is exactly CT's 155 names, every name has a golden case, every case a transformer."""

from __future__ import annotations

from stream_app.transforms.caliper11.names import FAMILIES, NAMES
from stream_app.transforms.filters import EventFilter

from .harness import cases, engine

REGISTRY = engine().registries["caliper11"]
CASE_NAMES = {case.event["event_type"] for case in cases()}


def test_registry_is_cts_mapping() -> None:
    assert len(NAMES) == 155
    assert sum(len(names) for names in FAMILIES.values()) == 155
    assert set(REGISTRY) == NAMES


def test_every_name_has_a_case() -> None:
    assert sorted(NAMES - CASE_NAMES) == []
    assert "book" in CASE_NAMES  # our own case: upstream's book.json holds an edx.bookmark.listed event


def test_every_case_is_registered() -> None:
    assert sorted(CASE_NAMES - set(REGISTRY)) == []


def test_default_allow_list_is_cts_delivered_names_and_page_views_are_one_setting_away() -> None:
    default = EventFilter.default("caliper11")
    assert all(default.allows(name) for name in NAMES)
    assert not default.allows("/courses/course-v1:edX+DemoX+Demo_Course/courseware/")  # CT never delivered them
    with_views = default.with_page_views()
    assert with_views.allows("/courses/course-v1:edX+DemoX+Demo_Course/courseware/")
    assert all(with_views.allows(name) for name in NAMES) and not with_views.allows("edx.video.played")
    assert not default.allows("edx.video.played")  # an ERB name CT never mapped
    assert not default.allows("problem_check_x")
