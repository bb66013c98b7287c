"""The Tutor plugin's `event_bus_tracking_logs.txt`, generated from stream_app's default allow lists.

`python -m tests.tutor.names` prints the file (`make tutor-plugin-names` writes it); the plugin's tests compare
the shipped file with `render()`, so a transformer added to a default list cannot be forgotten on the LMS side.
"""

from __future__ import annotations

from stream_app.transforms.filters import DEFAULT_CALIPER_EVENTS, DEFAULT_XAPI_EVENTS

HEADER = (
    "# Generated from stream_app/transforms/filters.py: the union of the default xAPI and Caliper allow lists, the\n"
    "# event names the LMS must put on the event bus (EVENT_BUS_TRACKING_LOGS). tests/tutor/test_plugin_package.py\n"
    "# checks it; regenerate with `make tutor-plugin-names`.\n"
)


def render() -> str:
    """The file's expected content."""
    return HEADER + "".join(f"{name}\n" for name in sorted(DEFAULT_XAPI_EVENTS | DEFAULT_CALIPER_EVENTS))


if __name__ == "__main__":
    print(render(), end="")
