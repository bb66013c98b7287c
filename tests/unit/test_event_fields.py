"""ERB's field-access rules, which decide which value wins when a key appears at several levels."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_app.errors import TransformError
from stream_app.transforms.context import caliper_text
from stream_app.transforms.event import Event, dotted


def test_dotted_path_is_exact() -> None:
    ev = Event({"data": {"user_id": 5}, "context": {"user_id": 7}})
    assert ev.get("data.user_id") == 5
    assert ev.get("data.missing") is None
    assert ev.get("data.user_id.deeper") is None  # a non-dict on the path


def test_undotted_key_searches_depth_first_in_insertion_order() -> None:
    ev = Event({"context": {"module": {"display_name": "first"}}, "data": {"display_name": "second"}})
    assert ev.get("display_name") == "first"


def test_top_level_hit_wins_even_when_empty() -> None:
    # ERB returns the current level's value without looking deeper; "" then counts as missing.
    ev = Event({"session": "", "context": {"session": "abc"}})
    assert ev.get("session") is None


def test_nested_none_lets_search_continue_but_nested_empty_string_stops_it() -> None:
    assert Event({"a": {"k": None}, "b": {"k": "v"}}).get("k") == "v"
    assert Event({"a": {"k": ""}, "b": {"k": "v"}}).get("k") is None


def test_lists_are_not_searched_and_falsy_numbers_are_kept() -> None:
    ev = Event({"a": [{"k": 1}], "b": {"zero": 0, "no": False}})
    assert ev.get("k") is None
    assert ev.get("zero") == 0
    assert ev.get("no") is False


def test_required_missing_field_raises_with_reason() -> None:
    with pytest.raises(TransformError) as info:
        Event({"data": {}}).get("data.id", required=True)
    assert info.value.reason == "missing_field:data.id"


def test_get_str_rejects_non_strings() -> None:
    with pytest.raises(TransformError) as info:
        Event({"data": {"id": 5}}).get_str("data.id")
    assert info.value.reason == "invalid_field:data.id"



@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)))
def test_caliper_time_text_is_strftime_truncated_to_milliseconds(value: datetime) -> None:
    assert caliper_text(value) == value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_field_reads_and_exact_paths_do_not_share_a_cache() -> None:
    # `dotted` reads an undotted key at the top level only; Event.get searches it recursively.
    raw = {"context": {"session": "s1"}}
    assert dotted(raw, "session") is None
    assert Event(raw).get("session") == "s1"
    assert dotted(raw, "session") is None and dotted(raw, "context.session") == "s1"
