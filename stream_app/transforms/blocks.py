"""Usage keys of course blocks, derived from events the way ERB derives them (shared by xAPI and Caliper).

Video events carry only the block's hash (`data.id`) and problem events sometimes
only a referer or the browser's form string, so the usage key is rebuilt from
the course key: `block-v1:<part after ':'>+type@<type>+block@<id>`, with
`ccx-block-v1` for CCX courses. Anything unusable gives None (ERB would raise).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit


def usage_key(course_id: str, block_type: str, block_id: Any) -> str | None:
    """The usage key of a block in a course, or None for a course key without ':' (old slash form)."""
    pieces = course_id.split(":")
    if len(pieces) < 2:
        return None
    version = "block-" + pieces[0].split("-")[-1]
    if "ccx" in pieces[0]:
        version = "ccx-" + version
    # ERB keeps only the piece between the first and second ':' of the course key.
    return f"{version}:{pieces[1]}+type@{block_type}+block@{block_id}"


def referer_block_id(referer: Any) -> str | None:
    """The unit the LMS courseware page names in `?activate_block_id=` (xblock iframes carry none)."""
    if not isinstance(referer, str):
        return None
    try:
        values = parse_qs(urlsplit(referer).query).get("activate_block_id")
    except ValueError:  # e.g. a malformed IPv6 host; ERB would raise here
        return None
    return values[0] if values and values[0] else None


def form_block_id(data: Any, course_id: Any) -> str | None:
    """A problem's usage key from a browser check's form string `input_<block>_<n>_<m>=...`."""
    if not isinstance(data, str) or not isinstance(course_id, str):
        return None
    parts = data.split("_")
    if len(parts) < 2:
        return None
    return usage_key(course_id, "problem", parts[1])
