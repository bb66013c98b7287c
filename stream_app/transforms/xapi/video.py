"""xAPI transformers for video player events, legacy names (`play_video`, ...) and `edx.video.*` alike.

Both spellings of an event give the same statement. The object is the video
block, whose usage key is rebuilt from `context.course_id` and `data.id`; the
video length goes into the context and the player position, speeds or
caption state into the result. Times are floats rounded to 3 decimals, as ERB
sends them; a time that is not a usable number is left out rather than
failing the whole statement.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from stream_app.transforms.blocks import usage_key
from stream_app.transforms.context import Ctx
from stream_app.transforms.errors import TransformError
from stream_app.transforms.xapi import vocab
from stream_app.transforms.xapi.base import JSON, compact, context, statement
from stream_app.transforms.xapi.registry import XAPI

# Event name -> verb key; legacy and new names sit side by side.
_VERBS = {
    "load_video": "initialized", "edx.video.loaded": "initialized",
    "play_video": "played", "edx.video.played": "played",
    "stop_video": "terminated", "edx.video.stopped": "terminated",
    "pause_video": "paused", "edx.video.paused": "paused",
    "complete_video": "completed", "edx.video.completed": "completed",
    "seek_video": "seeked", "edx.video.position.changed": "seeked",
    "speed_change_video": "interacted",
    "hide_transcript": "interacted", "edx.video.transcript.hidden": "interacted",
    "show_transcript": "interacted", "edx.video.transcript.shown": "interacted",
    "video_hide_cc_menu": "interacted", "edx.video.closed_captions.hidden": "interacted",
    "video_show_cc_menu": "interacted", "edx.video.closed_captions.shown": "interacted",
}

# The caption/transcript events that turn captions on; the other four turn them off.
_CC_ON = frozenset({
    "show_transcript", "edx.video.transcript.shown", "video_show_cc_menu", "edx.video.closed_captions.shown",
})


def seconds(value: Any) -> float | None:
    """A time in seconds as a float rounded to 3 decimals; None when absent or not a finite number."""
    if value is None or not isinstance(value, (str, int, float)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        # ERB crashes on "abc" or 10**400; dropping one extension keeps the statement.
        return None
    if not math.isfinite(number):
        # float("inf") / "nan" would make the statement invalid JSON.
        return None
    # Rounding through the 3-decimal text form, exactly as ERB's "{:.3f}" does.
    return float(f"{number:.3f}")


def iso_duration(secs: float) -> str | None:
    """tincan's ISO 8601 form of a duration (`PT03M15S`, `P1DT00H00M00.5S`); None when not representable."""
    if secs < 0:
        # tincan would write "P-1DT23H59M55S", which is not an xAPI duration.
        return None
    try:
        total = timedelta(seconds=secs).total_seconds()
    except OverflowError:
        return None
    minutes, rest = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    rest = round(rest, 6)
    out = "P" + (f"{int(days)}D" if days else "") + "T"
    # tincan writes hours once a bigger unit is there, and minutes once hours or a bigger unit are.
    if days or hours:
        out += f"{int(hours):02}H"
    if days or hours or minutes:
        out += f"{int(minutes):02}M"
    out += f"{int(rest):02}S" if rest.is_integer() else f"{rest:09.6f}".rstrip("0") + "S"
    return out


def video_block_id(ctx: Ctx) -> str:
    """The video's usage key: `block-v1:<key after ':'>+type@video+block@<data.id>`, `ccx-block-v1:` for CCX."""
    course_id = ctx.get_str("context.course_id", required=True) or ""
    video_id = ctx.get("data.id", required=True)
    if isinstance(video_id, bool) or not isinstance(video_id, (str, int)):
        raise TransformError("invalid_field", "data.id")
    key = usage_key(course_id, "video", video_id)
    if key is None:
        # ERB raises IndexError on an old-style (slash) course id.
        raise TransformError("invalid_field", "context.course_id")
    return key


def _current_time(ctx: Ctx) -> float | None:
    # ERB chains these with `or`, so a current_time of 0 falls back to currentTime.
    return seconds(ctx.get("data.current_time") or ctx.get("data.currentTime"))


def _video_statement(ctx: Ctx, result: JSON | None = None) -> JSON:
    obj = {"id": ctx.iri("xblock", video_block_id(ctx)), "objectType": "Activity",
           "definition": {"type": vocab.ACT_VIDEO}}
    extensions = {vocab.EXT_VIDEO_LENGTH: seconds(ctx.get("data.duration"))}
    return statement(ctx, vocab.verb(_VERBS[ctx.name]), obj, result=result, context_=context(ctx, extensions))


@XAPI.register("load_video", "edx.video.loaded")
def video_loaded(ctx: Ctx) -> JSON:
    """The player loaded the video: no result."""
    return _video_statement(ctx)


@XAPI.register("play_video", "edx.video.played", "stop_video", "edx.video.stopped", "pause_video",
               "edx.video.paused")
def video_playback(ctx: Ctx) -> JSON:
    """Play, pause or stop, with the player position."""
    return _video_statement(ctx, {"extensions": compact({vocab.EXT_VIDEO_TIME: _current_time(ctx)})})


@XAPI.register("hide_transcript", "show_transcript", "edx.video.transcript.hidden", "edx.video.transcript.shown",
               "video_hide_cc_menu", "video_show_cc_menu", "edx.video.closed_captions.hidden",
               "edx.video.closed_captions.shown")
def video_captions(ctx: Ctx) -> JSON:
    """Transcript or captions shown or hidden, with the position and whether captions are now on."""
    extensions = compact({vocab.EXT_VIDEO_TIME: _current_time(ctx), vocab.EXT_VIDEO_CC_ENABLED: ctx.name in _CC_ON})
    return _video_statement(ctx, {"extensions": extensions})


@XAPI.register("complete_video", "edx.video.completed")
def video_completed(ctx: Ctx) -> JSON:
    """The video was watched to the end: its length is both the position and the result duration."""
    length = seconds(ctx.get("data.duration"))
    result = {
        "extensions": compact({vocab.EXT_VIDEO_TIME: length}),
        "completion": True,
        "duration": None if length is None else iso_duration(length),
    }
    return _video_statement(ctx, compact(result))


@XAPI.register("seek_video", "edx.video.position.changed")
def video_seeked(ctx: Ctx) -> JSON:
    """A jump from one position to another."""
    extensions = {
        vocab.EXT_VIDEO_TIME_FROM: seconds(ctx.get("data.old_time")),
        vocab.EXT_VIDEO_TIME_TO: seconds(ctx.get("data.new_time")),
    }
    return _video_statement(ctx, {"extensions": compact(extensions)})


def _speed(ctx: Ctx, key: str) -> str | None:
    value = ctx.get(key)
    if value is None or isinstance(value, str):
        # ERB raises TypeError on a missing speed; leaving it out keeps the rest of the statement.
        return None if value is None else value + "x"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        # The player sends strings; a number's intent is just as clear.
        return f"{value}x"
    raise TransformError("invalid_field", key)


@XAPI.register("speed_change_video")
def video_speed_changed(ctx: Ctx) -> JSON:
    """A playback speed change, speeds written with an `x` suffix (`"1.25x"`)."""
    extensions = {
        vocab.EXT_VIDEO_SPEED_FROM: _speed(ctx, "data.old_speed"),
        vocab.EXT_VIDEO_SPEED_TO: _speed(ctx, "data.new_speed"),
    }
    return _video_statement(ctx, {"extensions": compact(extensions)})
