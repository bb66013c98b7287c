"""The LMS and CMS settings the plugin renders: valid Python, and the event-bus settings stream_app relies on.

The rendered settings modules import edx-platform, which is not installed here:
each file is compiled, and the plugin's own block (between its first comment
and its last statement) is executed against stand-ins of the two names it
extends, to check the values the LMS would end up with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stream_app.transforms.filters import DEFAULT_CALIPER_EVENTS, DEFAULT_XAPI_EVENTS
from tests.tutor.harness import Rendered

START = "# stream_app (tutor-contrib-stream-app): the LMS and CMS send tracking events"
END = 'INSTALLED_APPS.append("openedx_events")\n'
TRACKING = "org.openedx.analytics.tracking.event.emitted.v1"


def _settings_files(rendered: Rendered) -> list[Path]:
    files = sorted((rendered.env / "apps" / "openedx" / "settings").glob("[lc]ms/*.py"))
    assert any(f.parent.name == "lms" and f.name == "production.py" for f in files)
    return files


def test_every_rendered_settings_module_compiles(rendered: Rendered) -> None:
    for path in _settings_files(rendered):
        compile(path.read_text(), str(path), "exec")


def _block(text: str) -> str:
    start = text.index(START)
    return text[start:text.index(END, start) + len(END)]


def _run_block(path: Path, existing: dict[str, Any]) -> dict[str, Any]:
    namespace: dict[str, Any] = {"EVENT_TRACKING_BACKENDS": {"tracking_logs": {}}, "INSTALLED_APPS": [], **existing}
    exec(compile(_block(path.read_text()), str(path), "exec"), namespace)  # noqa: S102 — our own rendered block
    return namespace


@pytest.mark.parametrize("variant", ["lms/production.py", "cms/production.py", "lms/development.py"])
def test_the_settings_send_tracking_events_over_the_kafka_event_bus(rendered: Rendered, variant: str) -> None:
    path = rendered.env / "apps" / "openedx" / "settings" / variant
    settings = _run_block(path, {})
    backend = settings["EVENT_TRACKING_BACKENDS"]["stream_app"]
    assert backend["ENGINE"] == "eventtracking.backends.event_bus.EventBusRoutingBackend"
    assert "tracking_logs" in settings["EVENT_TRACKING_BACKENDS"]  # the platform's own backends stay
    assert settings["SEND_TRACKING_EVENT_EMITTED_SIGNAL"] is True
    assert set(settings["EVENT_BUS_TRACKING_LOGS"]) == DEFAULT_XAPI_EVENTS | DEFAULT_CALIPER_EVENTS
    assert settings["EVENT_BUS_PRODUCER_CONFIG"][TRACKING] == {
        "analytics": {"event_key_field": "tracking_log.name", "enabled": True}}
    assert settings["EVENT_BUS_PRODUCER"] == "edx_event_bus_kafka.create_producer"
    assert settings["EVENT_BUS_KAFKA_BOOTSTRAP_SERVERS"] == rendered.value("STREAM_APP_KAFKA_BOOTSTRAP_SERVERS")
    assert settings["EVENT_BUS_KAFKA_SCHEMA_REGISTRY_URL"] == rendered.value("STREAM_APP_SCHEMA_REGISTRY_URL")
    assert settings["EVENT_BUS_TOPIC_PREFIX"] == rendered.value("STREAM_APP_EVENT_BUS_TOPIC_PREFIX")
    assert "openedx_events" in settings["INSTALLED_APPS"]


def test_the_settings_extend_what_another_plugin_configured(all_on: Rendered) -> None:
    path = all_on.env / "apps" / "openedx" / "settings" / "lms" / "production.py"
    other = {"org.openedx.content_authoring.xblock.published.v1": {"course-authoring": {"enabled": True}}}
    settings = _run_block(path, {"EVENT_BUS_TRACKING_LOGS": ["aspects.only.event"],
                                 "EVENT_BUS_PRODUCER_CONFIG": other, "INSTALLED_APPS": ["openedx_events"]})
    assert "aspects.only.event" in settings["EVENT_BUS_TRACKING_LOGS"]
    assert "problem_check" in settings["EVENT_BUS_TRACKING_LOGS"]
    assert settings["EVENT_BUS_PRODUCER_CONFIG"]["org.openedx.content_authoring.xblock.published.v1"] == {
        "course-authoring": {"enabled": True}}
    assert TRACKING in settings["EVENT_BUS_PRODUCER_CONFIG"]
    assert settings["INSTALLED_APPS"] == ["openedx_events"]


def test_the_lms_image_installs_the_kafka_event_bus_producer(all_on: Rendered) -> None:
    dockerfile = (all_on.env / "build" / "openedx" / "Dockerfile").read_text()
    assert "pip install \"edx-event-bus-kafka" in dockerfile
    assert "confluent-kafka[avro,schema-registry]" in dockerfile


def test_event_routing_backends_is_turned_off_only_when_asked(all_on: Rendered,
                                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.tutor.harness import render

    path = Path("apps") / "openedx" / "settings" / "lms" / "production.py"
    assert "XAPI_EVENTS_ENABLED" not in _run_block(all_on.env / path, {})
    off = render(tmp_path_factory.mktemp("erb-off"), {"STREAM_APP_DISABLE_ERB": True,
                                                      "STREAM_APP_TRANSFORMER_VERSION": "event-routing-backends@9.3.0"})
    settings = _run_block(off.env / path, {"XAPI_EVENTS_ENABLED": True})
    assert settings["XAPI_EVENTS_ENABLED"] is False and settings["CALIPER_EVENTS_ENABLED"] is False
    assert off.worker_env()["STREAM_APP_TRANSFORMER_VERSION"] == "event-routing-backends@9.3.0"
    assert "STREAM_APP_TRANSFORMER_VERSION" not in all_on.worker_env()
