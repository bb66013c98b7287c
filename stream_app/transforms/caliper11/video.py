"""Caliper 1.1 video events: a `VideoObject` (or the caption menu's `Frame`) addressed by the referer.

CT's video objects carry the duration and only the player's `code` and `id`;
the playback time is a `MediaLocation` target at the same referer. `load_video`
and `stop_video` have no target, the caption-menu events are plain `Event`s,
a seek lands on `new_time` (keeping `old_time` in the target's extensions) and
a speed change keeps the rest of the payload (`old_speed`, `new_speed`, as
given) in the object's extensions. Times are ISO-8601 durations.
"""

from __future__ import annotations

from stream_app.transforms.caliper11.base import JSON, Builder, duration
from stream_app.transforms.caliper11.registry import CALIPER11
from stream_app.transforms.context import Ctx

# name -> (type, action, payload key of the target time or None for no target)
_PLAYER: dict[str, tuple[str, str, str | None]] = {
    "play_video": ("MediaEvent", "Started", "currentTime"),
    "pause_video": ("MediaEvent", "Paused", "currentTime"),
    "stop_video": ("MediaEvent", "Ended", None),
    "load_video": ("Event", "Retrieved", None),
    "edx.video.closed_captions.shown": ("MediaEvent", "EnabledClosedCaptioning", "current_time"),
    "edx.video.closed_captions.hidden": ("MediaEvent", "DisabledClosedCaptioning", "current_time"),
    "show_transcript": ("MediaEvent", "EnabledClosedCaptioning", "current_time"),
    "hide_transcript": ("MediaEvent", "DisabledClosedCaptioning", "current_time"),
}
_MENU = {"video_show_cc_menu": "Showed", "video_hide_cc_menu": "Hid"}


def _video(b: Builder, obj_type: str = "VideoObject", keys: tuple[str, ...] = ("code", "id")) -> JSON:
    return {
        "id": b.r.req("referer"),
        "type": obj_type,
        "duration": duration(b.r.field("duration"), "event.duration"),
        "extensions": {key: b.r.field(key) for key in keys},
    }


def _location(b: Builder, seconds_key: str) -> JSON:
    return {
        "id": b.r.req("referer"),
        "type": "MediaLocation",
        "currentTime": duration(b.r.field(seconds_key), f"event.{seconds_key}"),
    }


@CALIPER11.register(*_PLAYER)
def player_event(ctx: Ctx) -> JSON:
    """Play, pause, stop, load and caption/transcript toggles."""
    event_type, action, time_key = _PLAYER[ctx.name]
    b = Builder(ctx).person().course()
    obj = _video(b)
    if time_key is None:
        return b.build(event_type, action, obj)
    return b.build(event_type, action, obj, target=_location(b, time_key))


@CALIPER11.register(*_MENU)
def caption_menu(ctx: Ctx) -> JSON:
    """The caption language menu shown or hidden: an `Event` on the player's `Frame`."""
    b = Builder(ctx).person().course()
    b.add(name=b.r.req("name"))
    return b.build("Event", _MENU[ctx.name], _video(b, "Frame"))


@CALIPER11.register("seek_video")
def seek_video(ctx: Ctx) -> JSON:
    """A seek: the target is where the learner landed, the old position in its extensions."""
    b = Builder(ctx).person().course()
    target = _location(b, "new_time")
    target["extensions"] = {"old_time": duration(b.r.field("old_time"), "event.old_time")}
    return b.build("MediaEvent", "JumpedTo", _video(b, keys=("code", "id", "type")), target=target)


@CALIPER11.register("speed_change_video")
def speed_change_video(ctx: Ctx) -> JSON:
    """A speed change: the payload minus duration and time stays in the object's extensions."""
    b = Builder(ctx).person().course()
    rest = b.r.payload()
    rest.pop("duration", None)
    rest.pop("current_time", None)
    obj = {"id": b.r.req("referer"), "type": "VideoObject",
           "duration": duration(b.r.field("duration"), "event.duration"), "extensions": rest}
    return b.build("MediaEvent", "ChangedSpeed", obj, target=_location(b, "current_time"))
