"""The plugin package itself: its version is stream_app's, and its copy of stream_app's knowledge is current.

The plugin never imports stream_app, so the two things it carries from it (the
event names the LMS must put on the bus, and topics.yaml) are checked here.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

import stream_app
from stream_app.topics import DEFAULT_FILE, load_topics
from tests.tutor import names
from tests.tutor.harness import REPO, Rendered, run_tutor
from tests.tutor.topics_template import TEMPLATE
from tests.tutor.topics_template import render as render_topics

PLUGIN = REPO / "tutor-plugin" / "tutorstreamapp"


def test_the_plugin_version_is_stream_apps_version(all_on: Rendered) -> None:
    about = (PLUGIN / "__about__.py").read_text()
    match = re.search(r'__version__ = "([^"]+)"', about)
    assert match is not None and match.group(1) == stream_app.__version__
    # What Tutor loaded (the plugin installed from tutor-plugin/) says the same.
    assert all_on.value("STREAM_APP_VERSION") == stream_app.__version__
    rows = [line.split() for line in run_tutor(all_on.root, "plugins", "list").stdout.splitlines()]
    assert any(row[0] == "stream-app" and row[-1] == stream_app.__version__ for row in rows), rows


def test_the_event_bus_names_are_the_union_of_the_default_allow_lists() -> None:
    assert (PLUGIN / "event_bus_tracking_logs.txt").read_text() == names.render(), (
        "tutor-plugin/tutorstreamapp/event_bus_tracking_logs.txt is stale: run `make tutor-plugin-names`")


def test_the_plugins_topics_template_is_generated_from_topics_yaml() -> None:
    assert TEMPLATE.read_text() == render_topics(), (
        "the Tutor plugin's topics.yaml template is stale: run `make tutor-plugin-topics`")


def test_the_rendered_topics_file_is_stream_apps_with_the_event_bus_tracking_topic(rendered: Rendered) -> None:
    ours = load_topics(rendered.config_dir / "topics.yaml")
    theirs = load_topics(DEFAULT_FILE)
    prefix = rendered.value("STREAM_APP_EVENT_BUS_TOPIC_PREFIX")
    assert ours["tracking"].name == f"{prefix}-analytics"
    assert {key: spec for key, spec in ours.items() if key != "tracking"} == {
        key: spec for key, spec in theirs.items() if key != "tracking"}


def test_tutor_runs_the_plugin_as_it_is_in_the_repository(all_on: Rendered) -> None:
    from tests.tutor.harness import tutor_python

    installed = Path(tutor_python(all_on.root, "import tutorstreamapp; print(tutorstreamapp.__file__)").strip()).parent
    ours = {p.relative_to(PLUGIN): p.read_bytes() for p in PLUGIN.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}
    theirs = {p.relative_to(installed): p.read_bytes() for p in installed.rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}
    assert theirs == ours, "the plugin installed in .venv-tutor is not tutor-plugin/'s: run `make tutor`"


def test_the_k8s_config_maps_are_made_of_rendered_files(rendered: Rendered) -> None:
    kustomization = yaml.safe_load((rendered.env / "kustomization.yml").read_text())
    ours = {entry["name"]: entry for entry in kustomization["configMapGenerator"]
            if entry["name"].startswith("stream-app")}
    assert set(ours) == {"stream-app-config", "stream-app-env"}
    for entry in ours.values():
        for path in entry.get("files", []) + entry.get("envs", []):
            assert (rendered.env / path).is_file(), path
    files = {Path(path).name for path in ours["stream-app-config"]["files"]}
    assert files == {p.name for p in rendered.config_dir.iterdir()} - {"worker.env"}
