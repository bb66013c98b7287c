"""The Tutor plugin's `topics.yaml` template, generated from stream_app's `topics.yaml`.

The plugin must not import stream_app, so it ships a copy: the repository's file with the tracking topic
renamed to the event bus's topic of the LMS's tracking events. `python -m tests.tutor.topics_template`
prints it (`make tutor-plugin-topics` writes it); the plugin's tests compare the shipped template with
`render()`, so a change to topics.yaml cannot be forgotten in the plugin.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "tutor-plugin" / "tutorstreamapp" / "templates" / "stream-app" / "apps" / "config" / "topics.yaml"
HEADER = (
    "# Rendered by tutor-contrib-stream-app: stream_app's topics.yaml (kept equal to it by tests/tutor), with\n"
    "# the tracking topic renamed to the event bus's topic of the LMS's tracking events:\n"
    "# <EVENT_BUS_TOPIC_PREFIX>-analytics. Regenerate with `make tutor-plugin-topics`.\n"
)
TRACKING = "    name: openedx.tracking\n"


def render() -> str:
    """The template's expected content."""
    source = (REPO / "topics.yaml").read_text()
    if source.count(TRACKING) != 1:
        raise ValueError("topics.yaml: the tracking topic's name line is not where the plugin expects it")
    return HEADER + source.replace(TRACKING, "    name: {{ STREAM_APP_EVENT_BUS_TOPIC_PREFIX }}-analytics\n")


if __name__ == "__main__":
    print(render(), end="")
