"""Caliper transformers for video interactions: every event becomes a `MediaEvent` on a `VideoObject`.

Both the legacy browser names (`play_video`, ...) and the newer `edx.video.*`
names map to one Caliper action each. The video is addressed by the block id
built from the course key and `data.id`; times are ISO-8601 durations written
exactly as `isodate.duration_isoformat` writes a `timedelta`, which ERB uses.
Times that cannot be a duration (text, huge numbers) are left out instead of
failing the event, where ERB would crash.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from stream_app.transforms.blocks import usage_key
from stream_app.transforms.caliper.base import JSON, base_object, caliper_event
from stream_app.transforms.caliper.registry import CALIPER
from stream_app.transforms.context import Ctx
from stream_app.transforms.errors import TransformError

_ACTIONS = {
    "load_video": "Started",
    "edx.video.loaded": "Started",
    "play_video": "Resumed",
    "edx.video.played": "Resumed",
    "stop_video": "Ended",
    "edx.video.stopped": "Ended",
    "complete_video": "Ended",
    "edx.video.completed": "Ended",
    "pause_video": "Paused",
    "edx.video.paused": "Paused",
    "hide_transcript": "DisabledClosedCaptioning",
    "edx.video.transcript.hidden": "DisabledClosedCaptioning",
    "edx.video.closed_captions.hidden": "DisabledClosedCaptioning",
    "video_hide_cc_menu": "DisabledClosedCaptioning",
    "show_transcript": "EnabledClosedCaptioning",
    "edx.video.transcript.shown": "EnabledClosedCaptioning",
    "edx.video.closed_captions.shown": "EnabledClosedCaptioning",
    "video_show_cc_menu": "EnabledClosedCaptioning",
    "seek_video": "JumpedTo",
    "edx.video.position.changed": "JumpedTo",
    "speed_change_video": "ChangedSpeed",
}
_SEEK = ("seek_video", "edx.video.position.changed")
_PLAIN = tuple(name for name in _ACTIONS if name not in _SEEK and name != "speed_change_video")


def iso_duration(seconds: Any) -> str | None:
    """`seconds` as isodate renders `timedelta(seconds=...)` (`PT3M14S`, `PT3.093662S`, `P0D`, `-PT0.5S`).

    None, and anything that is no finite number of seconds within timedelta's range, gives None.
    A numeric string is read as a number (ERB would raise TypeError on it).
    """
    if isinstance(seconds, str):
        try:
            seconds = float(seconds)
        except ValueError:
            return None
    if not isinstance(seconds, (int, float)):
        return None
    if isinstance(seconds, float) and not math.isfinite(seconds):
        return None
    try:
        # timedelta does the rounding to microseconds (half to even); reusing it keeps the digits identical.
        delta = timedelta(seconds=seconds)
    except OverflowError:
        return None
    total = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    secs, micros = divmod(abs(total), 1_000_000)
    mins, secs = divmod(secs, 60)
    hours, mins = divmod(mins, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days}D"] if days else []
    if hours or mins or secs or micros:
        parts.append("T")
        if hours:
            parts.append(f"{hours}H")
        if mins:
            parts.append(f"{mins}M")
        if secs or micros:
            parts.append(f"{secs}.{micros:06d}".rstrip("0") if micros else str(secs))
            parts.append("S")
    return ("-" if total < 0 else "") + "P" + ("".join(parts) or "0D")


def video_block_id(course_id: str, video_id: Any) -> str:
    """The usage key of a video; an old slash-form course key is rejected."""
    key = usage_key(course_id, "video", video_id)
    if key is None:
        raise TransformError("invalid_field", "context.course_id")
    return key


def _video_object(ctx: Ctx) -> JSON:
    course_id = ctx.get_str("context.course_id", required=True)
    assert course_id is not None
    obj = base_object(ctx)
    obj["id"] = ctx.iri("xblock", video_block_id(course_id, ctx.get("data.id", required=True)))
    obj["type"] = "VideoObject"
    data = ctx.get("data")
    # ERB reads the raw `data` dict here: a missing duration counts as 0 (`P0D`), a null one is left out.
    obj["duration"] = iso_duration(data.get("duration", 0)) if isinstance(data, dict) else None
    return obj


def _location(current_time: Any) -> JSON:
    return {"id": "_:MediaLocation", "type": "MediaLocation", "currentTime": iso_duration(current_time)}


def _media_event(ctx: Ctx, target: JSON, **extra: Any) -> JSON:
    return caliper_event(ctx, "MediaEvent", _ACTIONS[ctx.name], _video_object(ctx), target=target, **extra)


@CALIPER.register(*_PLAIN)
def video_event(ctx: Ctx) -> JSON:
    """Load, play, pause, stop, complete and transcript/caption toggles, at the current playback time."""
    # `or`, as ERB: a currentTime of 0 falls through to current_time (and so usually disappears).
    return _media_event(ctx, _location(ctx.get("data.currentTime") or ctx.get("data.current_time")))


@CALIPER.register(*_SEEK)
def seek_video(ctx: Ctx) -> JSON:
    """A seek: the time left is `currentTime`, the time jumped to is `extensions.newTime`."""
    target = _location(ctx.get("data.currentTime") or ctx.get("data.old_time"))
    target["extensions"] = {"newTime": iso_duration(ctx.get("data.new_time"))}
    return _media_event(ctx, target)


@CALIPER.register("speed_change_video")
def speed_change_video(ctx: Ctx) -> JSON:
    """A speed change: old and new speed go into the event's own extensions, as given."""
    target = _location(ctx.get("data.currentTime") or ctx.get("data.current_time"))
    extensions = {
        "transformerVersion": ctx.settings.version_string,
        "oldSpeed": ctx.get("old_speed"),
        "newSpeed": ctx.get("new_speed"),
    }
    return _media_event(ctx, target, extensions=extensions)
