"""edx-platform's MySQL column types of the CDC tables the worker reads, declared once.

Debezium's JSON converter without schemas (`value.converter.schemas.enable=false`)
sends bare values: a `datetime(6)` column is an integer, a `tinyint(1)` flag is
0/1, a `DECIMAL` is base64 text, a `char(32)` UUID is 32 hex digits. Nothing in
the record says which is which, so the columns whose encoding matters to us are
declared here, from edx-platform's models and migrations (Django's MySQL
backend maps `DateTimeField` to `datetime(6)`, `BooleanField` to `bool` =
`tinyint(1)`, `UUIDField` to `char(32)`, `DecimalField(5, 2)` to
`decimal(5,2)`). Columns not listed are strings and integers, which need no
decoding. With schemas the record's own field schemas win (`debezium.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["uuid", "datetime", "date", "bool", "decimal"]


@dataclass(frozen=True, slots=True)
class Column:
    """A column whose Debezium encoding needs decoding: its kind and, for a DECIMAL, its scale."""

    kind: Kind
    scale: int = 0


_DT, _BOOL, _UUID = Column("datetime"), Column("bool"), Column("uuid")


def _of(kind: Column, *names: str) -> dict[str, Column]:
    return dict.fromkeys(names, kind)


# Source: openedx/edx-platform (common/djangoapps/student/models, external_user_ids, course_overviews,
# teams); `created`/`modified` come from model_utils' TimeStampedModel (DateTimeField).
COLUMNS: dict[str, dict[str, Column]] = {
    "auth_user": {**_of(_DT, "date_joined", "last_login"), **_of(_BOOL, "is_active", "is_staff", "is_superuser")},
    "auth_userprofile": {**_of(_DT, "profile_image_uploaded_at"), **_of(_BOOL, "allow_certificate")},
    "external_user_ids_externalid": {"external_user_id": _UUID, **_of(_DT, "created", "modified")},
    "external_user_ids_externalidtype": _of(_DT, "created", "modified"),
    "course_overviews_courseoverview": {
        **_of(_DT, "created", "modified", "start", "end", "start_date", "end_date", "announcement",
              "enrollment_start", "enrollment_end", "certificate_available_date"),
        **_of(_BOOL, "certificates_show_before_end", "cert_html_view_enabled", "has_any_active_web_certificate",
              "mobile_available", "visible_to_staff_only", "invitation_only", "self_paced",
              "eligible_for_financial_aid", "entrance_exam_enabled", "has_highlights", "enable_proctored_exams",
              "allow_proctoring_opt_out", "force_on_flexible_peer_openassessments"),
        "lowest_passing_grade": Column("decimal", 2),
    },
    "student_courseenrollment": {"created": _DT, "is_active": _BOOL},
    "teams_courseteam": {**_of(_DT, "date_created", "last_activity_at"), "organization_protected": _BOOL},
}
# The LMS tables a Debezium MySQL connector captures for the worker (course_blocks is not one of them).
LMS_TABLES = tuple(COLUMNS)


def column(table: str, name: str) -> Column | None:
    """The declared type of one column; None for columns that pass through unchanged."""
    return COLUMNS.get(table, {}).get(name)
