"""`stream-app transform`: the file-to-file transformation contract of ARCHITECTURE.md.

Reads JSONL tracking events (plain or gzip), enriches them from an optional CDC
seed, and writes one statement (xAPI) or one bare event (Caliper 1.2, or
Caliper 1.1 with openedx-caliper-tracking's profile: `caliper11`) per line —
or, with `--explain`, one line per input event saying what became of it. A
summary (events read, statements written, rejects by reason, and events without
`name` with what `--nameless-events` did to them) always goes to stderr, and a
progress bar too when stderr is a terminal.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import IO, Any

import click
from tqdm import tqdm

from stream_app.cli.inputs import BadLine, iter_lines, open_input, parse_line
from stream_app.errors import TransformError
from stream_app.jsonio import dumps
from stream_app.tables.memory import MemoryLookup
from stream_app.transforms import Engine, TransformSettings
from stream_app.transforms.engine import FORMATS, TransformResult
from stream_app.transforms.filters import EventFilter
from stream_app.transforms.normalise import named_by_event_type
from stream_app.transforms.settings import DEFAULT_LMS_ROOT_URL, DEFAULT_VERSION_STRING


def _load_seed(path: str | None) -> MemoryLookup:
    lookup = MemoryLookup()
    if path is None:
        return lookup
    try:
        stream = open_input(path)
    except OSError as exc:
        raise click.ClickException(f"{path}: {exc.strerror or exc}") from exc
    with stream:
        for number, line in iter_lines(stream):
            try:
                lookup.load([parse_line(line)])
            except (BadLine, TransformError) as exc:
                raise click.ClickException(f"{path}:{number}: bad CDC record ({exc})") from exc
    return lookup


def _summary(read: int, written: int, rejects: Counter[str], skipped: int, nameless: Counter[str] | None = None,
             rule: str = "event_type") -> str:
    parts = [f"events read: {read}", f"statements written: {written}", f"not allowed: {skipped}"]
    total = sum(rejects.values())
    detail = ", ".join(f"{reason}={count}" for reason, count in sorted(rejects.items()))
    parts.append(f"rejected: {total}" + (f" ({detail})" if detail else ""))
    nameless = nameless or Counter()
    if nameless["events"]:
        # Old tracking logs: say what happened to the lines ERB's replay would have skipped.
        if rule == "skip":
            parts.append(f"without name: {nameless['events']} (skipped: no_name)")
        else:
            parts.append(f"without name: {nameless['events']} (named by event_type: {nameless['statements']} "
                         f"statements, {nameless['legacy']} legacy rejects)")
    return "; ".join(parts)


@click.command("transform")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), required=True,
              help="Output format: xapi, caliper (1.2, ERB's) or caliper11 (1.1, openedx-caliper-tracking's).")
@click.option("--cdc", "cdc", type=click.Path(dir_okay=False), help="JSONL CDC seed: {topic, key, value} records.")
@click.option("--input", "input_path", default="-", show_default=True,
              help="JSONL tracking events (gzip ok); - is stdin.")
@click.option("--output", "output_path", default="-", show_default=True, help="Where to write; - is stdout.")
@click.option("--explain", is_flag=True, help="One line per input event: index, name, output, error.")
@click.option("--lms-root-url", default=DEFAULT_LMS_ROOT_URL, show_default=True, envvar="STREAM_APP_LMS_ROOT_URL",
              help="LMS root URL (IRIs, homePage).")
@click.option("--ifi", type=click.Choice(["external_id", "mbox", "mbox_sha1sum"]), default="external_id",
              show_default=True, envvar="STREAM_APP_XAPI_ACTOR_IFI", help="xAPI actor form.")
@click.option("--mbox-sha1sum-form", type=click.Choice(["erb", "spec"]), default="erb", show_default=True,
              envvar="STREAM_APP_MBOX_SHA1SUM_FORM",
              help="erb: sha1 of the bare email (as ERB); spec: sha1 of the mailto: IRI (xAPI spec).")
@click.option("--version-string", default=DEFAULT_VERSION_STRING, show_default=True,
              envvar="STREAM_APP_TRANSFORMER_VERSION",
              help="Transformer-version value, e.g. event-routing-backends@10.0.0 for parity runs.")
@click.option("--sensor-id", default=None, envvar="STREAM_APP_CALIPER_SENSOR_ID",
              help="Caliper sensor id (default: the LMS root URL).")
@click.option("--caliper11-personal-data/--no-caliper11-personal-data", default=True, show_default=True,
              envvar="STREAM_APP_CALIPER11_PERSONAL_DATA",
              help="caliper11: copy username, IP and user agent into the output as openedx-caliper-tracking does.")
@click.option("--caliper11-passthrough", is_flag=True, envvar="STREAM_APP_CALIPER11_PASSTHROUGH",
              help="caliper11: send grading events without a referer on raw with id null (CT's behaviour) "
                   "instead of rejecting them.")
@click.option("--caliper11-page-views", is_flag=True, envvar="STREAM_APP_CALIPER11_PAGE_VIEWS",
              help="caliper11: also transform page views (URL-path event types), which CT only logged locally.")
@click.option("--id-form", "id_form", type=click.Choice(["live", "replay"]), default="live", show_default=True,
              envvar="STREAM_APP_XAPI_ID_FORM",
              help="xAPI statement ids as ERB's live paths made them (from the timestamp as a datetime) or as "
                   "its file replays did (from the timestamp text); see docs/statement-ids.md.")
@click.option("--nameless-events", type=click.Choice(["event_type", "skip"]), default="event_type", show_default=True,
              envvar="STREAM_APP_NAMELESS_EVENTS",
              help="Events without `name` (old tracking logs): take event_type as the name, or skip them "
                   "(no_name) as ERB's transform_tracking_logs does. xAPI and Caliper 1.2 only; see docs/backfill.md.")
@click.option("--allow", "allow", multiple=True,
              help="Replace the allow list: event names, or re:<regex> for whole-name patterns (repeatable).")
def transform_command(
    fmt: str, cdc: str | None, input_path: str, output_path: str, explain: bool, lms_root_url: str, ifi: Any,
    mbox_sha1sum_form: Any, version_string: str, sensor_id: str | None, caliper11_personal_data: bool,
    caliper11_passthrough: bool, caliper11_page_views: bool, id_form: Any, nameless_events: Any, allow: tuple[str, ...],
) -> None:
    """Transform tracking events into xAPI statements or Caliper events.

    Every option that changes output defaults to the worker's environment variable of the same setting
    (STREAM_APP_LMS_ROOT_URL, STREAM_APP_XAPI_ID_FORM, ...), so a file transformed in the worker's
    environment gives the worker's statements.
    """
    settings = TransformSettings(lms_root_url=lms_root_url, ifi=ifi, mbox_sha1sum_form=mbox_sha1sum_form,
                                 version_string=version_string, sensor_id=sensor_id,
                                 caliper11_personal_data=caliper11_personal_data,
                                 caliper11_passthrough=caliper11_passthrough,
                                 caliper11_page_views=caliper11_page_views, xapi_id_form=id_form,
                                 nameless_events=nameless_events)
    try:
        filters = {fmt: EventFilter.parse(allow)} if allow else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--allow") from exc
    engine = Engine(settings, filters=filters)
    lookup = _load_seed(cdc)
    try:
        stream = open_input(input_path)  # before --output is created: a wrong input path leaves no empty file
        out: IO[bytes] = sys.stdout.buffer if output_path == "-" else open(output_path, "wb")  # noqa: SIM115
    except OSError as exc:
        raise click.ClickException(f"{exc.filename or input_path}: {exc.strerror or exc}") from exc
    read = written = skipped = 0
    rejects: Counter[str] = Counter()
    nameless: Counter[str] = Counter()
    try:
        with stream:
            lines = tqdm(iter_lines(stream), unit=" events", disable=not sys.stderr.isatty(), file=sys.stderr)
            for index, (_number, line) in enumerate(lines):
                read += 1
                try:
                    event = parse_line(line)
                    result = engine.run(fmt, event, lookup)
                except BadLine as exc:
                    event, result = None, TransformResult(None, error=str(exc))
                if named_by_event_type(event):
                    nameless["events"] += 1
                    nameless["statements"] += len(result.output)
                    nameless["legacy"] += result.legacy
                if result.filtered:
                    skipped += 1
                elif result.error == "no_name":
                    pass  # skipped by --nameless-events skip: counted under "without name", not a reject
                elif result.error:
                    rejects[result.error.split(":", 1)[0]] += 1
                written += len(result.output)
                if explain:
                    record = {"index": index, "name": result.name,
                              "output": result.output if result.error is None else None, "error": result.error}
                    out.write(dumps(record) + b"\n")
                else:
                    for item in result.output:
                        out.write(dumps(item) + b"\n")
    finally:
        out.flush()
        if out is not sys.stdout.buffer:
            out.close()
    click.echo(_summary(read, written, rejects, skipped, nameless, nameless_events), err=True)
