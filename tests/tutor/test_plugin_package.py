"""The plugin package itself: its version is stream_app's, and its copy of stream_app's knowledge is current.

The plugin never imports stream_app, so the two things it carries from it (the
event names the LMS must put on the bus, and topics.yaml) are checked here.
"""

from __future__ import annotations

import re

import stream_app
from stream_app.topics import DEFAULT_FILE, load_topics
from tests.tutor import names
from tests.tutor.harness import REPO, Rendered, run_tutor

PLUGIN = REPO / "tutor-plugin" / "tutorstreamapp"


def test_the_plugin_version_is_stream_apps_version(all_on: Rendered) -> None:
    about = (PLUGIN / "__about__.py").read_text()
    match = re.search(r'__version__ = "([^"]+)"', about)
    assert match is not None and match.group(1) == stream_app.__version__
    # What Tutor loaded (the plugin installed from tutor-plugin/) says the same.
    assert all_on.value("STREAM_APP_VERSION") == stream_app.__version__
    listed = [line.split() for line in run_tutor(all_on.root, "plugins", "list").stdout.splitlines()]
    assert ["stream-app", "enabled", stream_app.__version__] in [row[:1] + row[2:3] + row[1:2] for row in listed] \
        or any(row[0] == "stream-app" and stream_app.__version__ in row for row in listed)


def test_the_event_bus_names_are_the_union_of_the_default_allow_lists() -> None:
    assert (PLUGIN / "event_bus_tracking_logs.txt").read_text() == names.render(), (
        "tutor-plugin/tutorstreamapp/event_bus_tracking_logs.txt is stale: run `make tutor-plugin-names`")


def test_the_rendered_topics_file_is_stream_apps_with_the_event_bus_tracking_topic(rendered: Rendered) -> None:
    ours = load_topics(rendered.config_dir / "topics.yaml")
    theirs = load_topics(DEFAULT_FILE)
    prefix = rendered.value("STREAM_APP_EVENT_BUS_TOPIC_PREFIX")
    assert ours["tracking"].name == f"{prefix}-analytics"
    assert {key: spec for key, spec in ours.items() if key != "tracking"} == {
        key: spec for key, spec in theirs.items() if key != "tracking"}
