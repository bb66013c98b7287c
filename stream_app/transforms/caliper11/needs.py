"""What a Caliper 1.1 event needs from the lookup, resolved by the engine before the transformer runs.

CT queries the LMS database inside its transformers: a user id → username for
the member of a cohort or team membership, and a team id → topic id for the
team page URL. Our transformers stay pure: the engine calls `resolve` with the
`Lookup`, and the answers reach the transformer in `Ctx.resolved`. An id the
lookup does not know is a `MissingDimension` (`unknown_user`, `unknown_team`),
so the worker holds the event until its CDC row arrives, where CT dropped it.
A missing or malformed id is left for the transformer to reject.

The URL builders reproduce the LMS routes CT reverses (`learner_profile`,
`certificates:html_view`, `about_course`); the golden tests replace them with
CT's test mocks, as CT's own tests do.
"""

from __future__ import annotations

from typing import Any, TypeGuard

import orjson

from stream_app.transforms.dimensions import Lookup
from stream_app.transforms.errors import MissingDimension

MEMBER_EVENTS = frozenset((
    "edx.cohort.user_add_requested", "edx.cohort.user_added", "edx.cohort.user_removed",
    "edx.team.learner_added", "edx.team.learner_removed",
))
TEAM_EVENTS = frozenset((
    "edx.team.activity_updated", "edx.team.changed", "edx.team.created",
    "edx.team.learner_added", "edx.team.learner_removed",
))


def _payload(record: dict[str, Any]) -> dict[str, Any]:
    value = record.get("event")
    if isinstance(value, (str, bytes)):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}


def _usable_id(value: Any) -> TypeGuard[str | int]:
    return isinstance(value, (str, int)) and not isinstance(value, bool) and value != ""


def resolve(name: str, record: dict[str, Any], lookup: Lookup) -> dict[str, Any]:
    """`{"member_username": ..., "team_topic": ...}` as far as the event needs them."""
    if name not in MEMBER_EVENTS and name not in TEAM_EVENTS:
        return {}
    payload = _payload(record)
    resolved: dict[str, Any] = {}
    user_id = payload.get("user_id")
    if name in MEMBER_EVENTS and _usable_id(user_id):
        username = lookup.username(user_id)
        if username is None:
            raise MissingDimension("unknown_user")
        resolved["member_username"] = username
    team_id = payload.get("team_id")
    # A learner removed because the team was deleted is addressed by the referer: no team to find.
    needs_team = name in TEAM_EVENTS and payload.get("remove_method") != "team_deleted"
    if needs_team and isinstance(team_id, str) and team_id:
        team = lookup.team(team_id)
        if team is None:
            raise MissingDimension("unknown_team")
        resolved["team_topic"] = team.topic_id
    return resolved


# -- LMS URLs CT reverses ----------------------------------------------------------------------
def team_url(referer: Any, topic_id: Any, team_id: Any) -> str:
    """The team's page: the referer with a `#teams/<topic>/<team>` fragment."""
    return f"{referer}#teams/{topic_id}/{team_id}"


def certificate_url(lms_root_url: str, user_id: Any, course_id: Any) -> str:
    """The web certificate of a user in a course."""
    return f"{lms_root_url}/certificates/user/{user_id}/course/{course_id}"


def about_url(lms_root_url: str, course_id: Any) -> str:
    """The course about page."""
    return f"{lms_root_url}/courses/{course_id}/about"
