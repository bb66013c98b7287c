"""xAPI vocabulary used by the Open edX profile: verb, activity-type and extension IRIs.

These IRIs are part of the output contract (dashboards filter on them); they
are the ones event-routing-backends emits.
"""

from __future__ import annotations

from typing import Any

EN = "en"
EN_US = "en-US"
XAPI_VERSION = "1.0.3"

_ADL = "http://adlnet.gov/expapi/verbs/"
_TINCAN_VERB = "http://id.tincanapi.com/verb/"
_ACROSSX = "https://w3id.org/xapi/acrossx/verbs/"
_DOD = "https://w3id.org/xapi/dod-isd/verbs/"
_OPENEDX_VERB = "https://w3id.org/xapi/openedx/verb/"
_VIDEO_VERB = "https://w3id.org/xapi/video/verbs/"

# verb key -> (IRI, English display)
VERBS: dict[str, tuple[str, str]] = {
    "attempted": (_ADL + "attempted", "attempted"),
    "evaluated": (_ACROSSX + "evaluated", "evaluated"),
    "registered": (_ADL + "registered", "registered"),
    "unregistered": (_TINCAN_VERB + "unregistered", "unregistered"),
    "completed": (_ADL + "completed", "completed"),
    "passed": (_ADL + "passed", "passed"),
    "failed": (_ADL + "failed", "failed"),
    "navigated": (_DOD + "navigated", "navigated"),
    "posted": (_ACROSSX + "posted", "posted"),
    "edited": (_ACROSSX + "edited", "edited"),
    "viewed": (_TINCAN_VERB + "viewed", "viewed"),
    "deleted": (_DOD + "deleted", "deleted"),
    "voted": (_OPENEDX_VERB + "voted", "voted"),
    "reported": (_ACROSSX + "reported", "reported"),
    "unreported": (_OPENEDX_VERB + "unreported", "unreported"),
    "earned": (_TINCAN_VERB + "earned", "earned"),
    "progressed": (_ADL + "progressed", "progressed"),
    "terminated": (_ADL + "terminated", "terminated"),
    "asked": (_ADL + "asked", "asked"),
    "initialized": (_ADL + "initialized", "initialized"),
    "played": (_VIDEO_VERB + "played", "played"),
    "paused": (_VIDEO_VERB + "paused", "paused"),
    "seeked": (_VIDEO_VERB + "seeked", "seeked"),
    "interacted": (_ADL + "interacted", "interacted"),
}


def verb(key: str) -> dict[str, Any]:
    """A fresh verb dict `{id, display: {en: ...}}` for a verb key of `VERBS`."""
    iri, display = VERBS[key]
    return {"id": iri, "display": {EN: display}}


# Activity types
ACT_QUESTION = "http://adlnet.gov/expapi/activities/question"
ACT_SOLUTION = "http://id.tincanapi.com/activitytype/solution"
ACT_RESOURCE = "http://id.tincanapi.com/activitytype/resource"
ACT_INTERACTION = "http://adlnet.gov/expapi/activities/cmi.interaction"
ACT_COURSE = "http://adlnet.gov/expapi/activities/course"
ACT_MODULE = "http://adlnet.gov/expapi/activities/module"
ACT_VIDEO = "https://w3id.org/xapi/video/activity-type/video"
ACT_DISCUSSION = "http://id.tincanapi.com/activitytype/discussion"
ACT_LINK = "http://adlnet.gov/expapi/activities/link"
ACT_TIMED_ASSESSMENT = "https://w3id.org/xapi/openedx/activity/timed-assessment"
ACT_PRACTICE_ASSESSMENT = "https://w3id.org/xapi/openedx/activity/practice-assessment"
ACT_PROCTORED_ASSESSMENT = "https://w3id.org/xapi/openedx/activity/proctored-assessment"
ACT_EXAM_ATTEMPT = "http://adlnet.gov/expapi/activities/attempt"
ACT_GRADE_CLASSIFICATION = "http://www.tincanapi.co.uk/activitytypes/grade_classification"

# Extensions
EXT_SUPPLEMENTAL_INFO = "https://w3id.org/xapi/acrossx/extensions/supplemental-info"
EXT_POSITION = "http://id.tincanapi.com/extension/position"
EXT_TOTAL_ITEMS = "https://w3id.org/xapi/acrossx/extensions/total-items"
EXT_MODE = "https://w3id.org/xapi/acrossx/extensions/type"
EXT_ATTEMPT = "http://id.tincanapi.com/extension/attempt-id"
EXT_GRADE = "http://www.tincanapi.co.uk/extensions/result/classification"
EXT_PROGRESS = "https://w3id.org/xapi/cmi5/result/extensions/progress"
EXT_VIDEO_LENGTH = "https://w3id.org/xapi/video/extensions/length"
EXT_VIDEO_CC_LANGUAGE = "https://w3id.org/xapi/video/extensions/cc-subtitle-lang"
EXT_STARTING_POSITION = "http://id.tincanapi.com/extension/starting-position"
EXT_ENDING_POSITION = "http://id.tincanapi.com/extension/ending-point"
EXT_COMPLETION_THRESHOLD = "https://w3id.org/xapi/video/extensions/completion-threshold"
EXT_SESSION_ID = "https://w3id.org/xapi/openedx/extensions/session-id"
EXT_TRANSFORMER_VERSION = "https://w3id.org/xapi/openedx/extension/transformer-version"
EXT_TIME_LIMIT = "https://w3id.org/xapi/acrossx/extensions/time-limit"
EXT_ATTEMPT_STARTED = "https://w3id.org/xapi/openedx/extension/attempt-started"
EXT_ATTEMPT_COMPLETED = "https://w3id.org/xapi/openedx/extension/attempt-completed"
EXT_DURATION = "http://id.tincanapi.com/extension/duration"
EXT_CODE = "https://w3id.org/xapi/openedx/extension/code"
EXT_VIDEO_TIME = "https://w3id.org/xapi/video/extensions/time"
EXT_VIDEO_TIME_FROM = "https://w3id.org/xapi/video/extensions/time-from"
EXT_VIDEO_TIME_TO = "https://w3id.org/xapi/video/extensions/time-to"
EXT_VIDEO_SPEED_FROM = "https://w3id.org/xapi/openedx/extension/speed-from"
EXT_VIDEO_SPEED_TO = "https://w3id.org/xapi/openedx/extension/speed-to"
EXT_VIDEO_CC_ENABLED = "https://w3id.org/xapi/video/extensions/cc-enabled"
EXT_VIDEO_PROGRESS = "https://w3id.org/xapi/video/extensions/progress"
