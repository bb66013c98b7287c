"""Engine behaviour around the transformers: settings, actor forms, hooks, plugins, allow lists, rejects."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from stream_app.errors import TransformError
from stream_app.tables.memory import MemoryLookup
from stream_app.transforms import Engine, TransformSettings
from stream_app.transforms.context import XapiHooks
from stream_app.transforms.dimensions import EmptyLookup
from stream_app.transforms.event import Event
from stream_app.transforms.filters import DEFAULT_CALIPER_EVENTS, DEFAULT_XAPI_EVENTS, EventFilter
from stream_app.transforms.registry import DuplicateTransformer, Registry
from tests.golden.harness import ERB_SETTINGS, cases, erb_lookup

LINK = next(c.event for c in cases() if c.name == "edx.ui.lms.link_clicked")


def xapi(event: dict[str, Any], settings: TransformSettings = ERB_SETTINGS, lookup: Any = None,
         **kw: Any) -> list[dict[str, Any]]:
    return Engine(settings, plugins=False, **kw).transform("xapi", event, lookup or erb_lookup())


def test_default_allow_lists_are_erbs() -> None:
    engine = Engine(plugins=False)
    assert len(DEFAULT_XAPI_EVENTS) == 65 and len(DEFAULT_CALIPER_EVENTS) == 26
    effective = {fmt: {n for n in engine.registries[fmt] if engine.allows(fmt, n)} for fmt in ("xapi", "caliper")}
    assert len(effective["xapi"]) == 63
    assert len(effective["caliper"]) == 24


def test_allow_list_replacement_with_regex() -> None:
    f = EventFilter.parse(["problem_check", "re:edx\\.video\\..*"])
    assert f.allows("problem_check") and f.allows("edx.video.played")
    assert not f.allows("xedx.video.played") and not f.allows("play_video")
    with pytest.raises(ValueError):
        EventFilter.parse(["re:("])
    engine = Engine(ERB_SETTINGS, plugins=False, filters={"xapi": f})
    with pytest.raises(TransformError) as info:
        engine.transform("xapi", LINK, erb_lookup())
    assert info.value.reason == "not_allowed"


def test_actor_forms() -> None:
    mbox = xapi(LINK, TransformSettings(ifi="mbox", version_string="v"))[0]
    assert mbox["actor"] == {"objectType": "Agent", "mbox": "mailto:edx@example.com"}
    erb = xapi(LINK, TransformSettings(ifi="mbox_sha1sum"))[0]
    assert erb["actor"]["mbox_sha1sum"] == hashlib.sha1(b"edx@example.com").hexdigest()
    spec = xapi(LINK, TransformSettings(ifi="mbox_sha1sum", mbox_sha1sum_form="spec"))[0]
    assert spec["actor"]["mbox_sha1sum"] == hashlib.sha1(b"mailto:edx@example.com").hexdigest()
    assert len({mbox["id"], erb["id"], spec["id"]}) == 3  # the actor is an input of the id


def test_settings_change_output() -> None:
    out = xapi(LINK, TransformSettings(lms_root_url="https://lms.example.org/", version_string="x@1"))[0]
    assert out["actor"]["account"]["homePage"] == "https://lms.example.org"
    assert out["context"]["contextActivities"]["parent"][0]["id"].startswith("https://lms.example.org/course/")
    assert out["context"]["extensions"]["https://w3id.org/xapi/openedx/extension/transformer-version"] == "x@1"
    with pytest.raises(ValueError):
        TransformSettings(ifi="email")  # type: ignore[arg-type]


def test_hooks_rewrite_actor_verb_object_and_the_id_follows() -> None:
    def actor(a: dict[str, Any], ev: Event) -> dict[str, Any]:
        return {"objectType": "Agent", "mbox": "mailto:hooked@example.org"}

    def obj(o: dict[str, Any], ev: Event) -> dict[str, Any]:
        return {**o, "id": o["id"] + "?hooked=1"}

    plain = xapi(LINK)[0]
    hooked = xapi(LINK, hooks=XapiHooks(actor=(actor,), object=(obj,)))[0]
    assert hooked["actor"]["mbox"] == "mailto:hooked@example.org"
    assert hooked["object"]["id"].endswith("?hooked=1")
    assert hooked["id"] != plain["id"]


def test_unknown_user_course_and_anonymous_are_rejected_with_reasons() -> None:
    with pytest.raises(TransformError) as info:
        xapi(LINK, lookup=EmptyLookup())
    assert info.value.reason == "unknown_user"
    lookup = erb_lookup()
    lookup.apply("openedx.cdc.course_overviews_courseoverview", None,
                 {"id": "course-v1:edX+DemoX+Demo_Course", "__deleted": "true"})
    with pytest.raises(TransformError) as info:
        xapi(LINK, lookup=lookup)
    assert info.value.reason == "unknown_course"
    anonymous = {**LINK, "context": {**LINK["context"], "user_id": None, "username": ""}}
    with pytest.raises(TransformError) as info:
        xapi(anonymous)
    assert info.value.reason == "anonymous_user"


def test_null_course_name_gives_a_valid_statement_without_name() -> None:
    lookup = erb_lookup()
    lookup.apply("openedx.cdc.course_overviews_courseoverview", None,
                 {"id": "course-v1:edX+DemoX+Demo_Course", "display_name": None})
    parent = xapi(LINK, lookup=lookup)[0]["context"]["contextActivities"]["parent"][0]
    assert "name" not in parent["definition"]


def test_tracking_log_shape_and_event_bus_shape_are_normalised() -> None:
    import orjson

    log_line = {"name": LINK["name"], "time": LINK["timestamp"], "context": LINK["context"],
                "event": orjson.dumps(LINK["data"]).decode(), "username": "edx", "event_source": "browser"}
    bus = {"name": LINK["name"], "timestamp": LINK["timestamp"], "context": orjson.dumps(LINK["context"]).decode(),
           "data": orjson.dumps(LINK["data"]).decode()}
    want = xapi(LINK)[0]
    assert xapi(log_line)[0] == want
    assert xapi(bus)[0] == want


def test_registry_refuses_duplicates_and_plugins_register_per_engine() -> None:
    reg = Registry("xapi")
    reg.add("a", lambda ctx: {})
    with pytest.raises(DuplicateTransformer):
        reg.add("a", lambda ctx: {})
    engine = Engine(plugins=False)
    with pytest.raises(DuplicateTransformer):
        engine.registries["xapi"].add("edx.ui.lms.link_clicked", lambda ctx: {})
    engine.registries["xapi"].add("my.custom.event", lambda ctx: {"id": "x", "object": {"id": "o"}})
    assert "my.custom.event" not in Engine(plugins=False).registries["xapi"]


def test_plugin_entry_points_add_transformers_allowed_by_default_and_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    from stream_app.transforms import registry as registry_module

    def register(registries: dict[str, Registry]) -> None:
        registries["xapi"].add("demo.event", lambda ctx: {"id": "1", "object": {"id": "o"}})

    def tag_object(o: dict[str, Any], ev: Event) -> dict[str, Any]:
        return {**o, "id": o["id"] + "?campus=north"}

    class EP:
        def __init__(self, name: str, obj: object) -> None:
            self.name, self._obj = name, obj

        def load(self) -> object:
            return self._obj

    installed = {"stream_app.transformers": [EP("demo", register)],
                 "stream_app.xapi_hooks": [EP("campus", XapiHooks(object=(tag_object,)))]}
    monkeypatch.setattr(registry_module, "entry_points", lambda group: installed.get(group, []))
    engine = Engine()
    assert engine.plugins == ["demo", "campus"]
    # The plugin's name joins the default allow list (as ERB's plugins extend its lists) ...
    assert engine.transform("xapi", {"name": "demo.event", "context": {"user_id": 3}}, erb_lookup()) == [
        {"id": "1", "object": {"id": "o"}}
    ]
    # ... and the installed hooks rewrite every built-in xAPI statement.
    out = engine.transform("xapi", LINK, erb_lookup())[0]
    assert out["object"]["id"].endswith("?campus=north")
    # An operator's own list replaces the whole default, plugins' names included.
    replaced = Engine(filters={"xapi": EventFilter.parse(["edx.ui.lms.link_clicked"])})
    assert not replaced.allows("xapi", "demo.event") and replaced.allows("xapi", "edx.ui.lms.link_clicked")
    installed["stream_app.xapi_hooks"] = [EP("broken", object())]
    with pytest.raises(TypeError, match="expected an XapiHooks"):
        Engine()


def test_naive_or_garbage_timestamp_is_rejected() -> None:
    for ts in ("2020-07-14T14:33:28", "yesterday", 10**30):
        with pytest.raises(TransformError) as info:
            xapi({**LINK, "timestamp": ts})
        assert info.value.reason.startswith("invalid_field:timestamp")


def test_memory_lookup_is_a_lookup() -> None:
    assert MemoryLookup().user(1) is None
