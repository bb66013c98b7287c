"""CDC agents: Debezium change events into the dimension tables.

User-related rows (auth_user, auth_userprofile, external ids) are re-keyed by
user id onto `user-changes`, so that one agent owns each user's record in the
partitioned `users` table; that agent also keeps the global username index. External
id types, courses and blocks go straight into their global tables. Values are
decoded from Debezium's encodings by source table (`tables/cdc.py`), and each
topic's name comes from topics.yaml, or from `STREAM_APP_CDC_TOPIC_PREFIX` for
the LMS tables (`topics.py`). A child-row change of a deleted user (or a child
delete of a user never seen) is not applied: it is counted in
`stream_app_cdc_dropped_total{table, reason}` and logged (see `tables/dimensions.py`).
`register` defines the agents on the worker's context; nothing happens at import.
"""

from __future__ import annotations

from typing import Any

import orjson

from stream_app.context import Context, log
from stream_app.errors import TransformError
from stream_app.tables.cdc import Change, decode
from stream_app.tables.dimensions import (
    USER_TABLES,
    apply_user_change,
    block_row,
    course_row,
    external_id_type_row,
    skip_reason,
    team_row,
    user_key_of,
    username_of,
    username_updates,
)
from stream_app.tables.stream import (
    blocks,
    courses,
    external_id_types,
    put_global,
    put_user,
    teams,
    user_names,
    usernames,
    users,
)
from stream_app.topics import topics

CDC_TOPICS = {
    "cdc_auth_user": "auth_user",
    "cdc_auth_userprofile": "auth_userprofile",
    "cdc_external_id": "external_user_ids_externalid",
    "cdc_external_id_type": "external_user_ids_externalidtype",
    "cdc_course_overview": "course_overviews_courseoverview",
    "cdc_course_blocks": "course_blocks",
    "cdc_teams": "teams_courseteam",
}


def decode_user_change(message: Any) -> tuple[str, str, Change]:
    """(user id, source table, change) of a `user-changes` record, as `apply` wrote it."""
    body = topics().user_changes.decode(message.value)
    return orjson.loads(message.key), body["table"], Change(body["op"], body["row"], body["key"])


def apply(ctx: Context, table: str, change: Change) -> None:
    """Apply one decoded change: user rows onto `user-changes` (keyed by user), the rest to global tables."""
    if table in USER_TABLES:
        user_id = user_key_of(table, change)
        if user_id is not None:
            body = {"table": table, "op": change.op, "row": change.row, "key": change.key}
            ctx.channel(ctx.topics.user_changes).send_soon(key=orjson.dumps(user_id),
                                                           value=ctx.topics.user_changes.encode(body))
    elif table == "external_user_ids_externalidtype":
        put_global(external_id_types, *external_id_type_row(change))
    elif table == "course_overviews_courseoverview":
        put_global(courses, *course_row(change))
    elif table == "course_blocks":
        put_global(blocks, *block_row(change))
    elif table == "teams_courseteam":
        found = team_row(change)
        if found is not None:
            put_global(teams, *found)


def _cdc_agent(ctx: Context, topic_key: str, table: str) -> None:
    async def apply_cdc(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            try:
                change = decode(message.key, message.value, table)
                if change is not None:
                    apply(ctx, table, change)
                    ctx.counts[f"cdc:{table}"] += 1
            except TransformError as exc:
                ctx.dead_letter("cdc", exc.reason, message)

    ctx.app.agent(ctx.channel(ctx.topics[topic_key]), name=f"apply_{table}")(apply_cdc)


def _update_user(ctx: Context, message: Any) -> None:
    user_id, table, change = decode_user_change(message)
    old = users.get(user_id)
    reason = skip_reason(old, table, change)
    if reason is not None:
        ctx.counts[f"cdc_dropped:{table}:{reason}"] += 1
        log.info("cdc: %s change of user %s not applied (%s)", table, user_id, reason,
                 extra={"table": table, "reason": reason, "user_id": user_id})
        return
    new = apply_user_change(old, user_id, table, change)
    put_user(user_id, new)
    ctx.counts[f"users:{table}"] += 1
    for username, record in username_updates(old, new):
        put_global(usernames, username, None if record is None else user_id)
    if username_of(old) != username_of(new):
        put_global(user_names, user_id, username_of(new))


def register(ctx: Context) -> None:
    """One agent per CDC topic, and `update_users` on `user-changes`."""
    for key, table in CDC_TOPICS.items():
        _cdc_agent(ctx, key, table)

    async def update_users(stream: Any) -> None:
        """Apply one user-row change to the user's record, then refresh the username index."""
        async for event in stream.events():
            try:
                _update_user(ctx, event.message)
            except (TransformError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
                ctx.dead_letter("users", getattr(exc, "reason", type(exc).__name__), event.message)
            ctx.users_applied.mark(event.message.tp, event.message.offset)  # the ClickHouse user rows wait on it

    ctx.app.agent(ctx.channel(ctx.topics.user_changes), name="update_users")(update_users)
