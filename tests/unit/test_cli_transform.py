"""The file-transform contract of `stream-app transform` (ARCHITECTURE.md): inputs, outputs, --explain, summary."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
from click.testing import CliRunner

from stream_app.cli.main import cli
from tests.golden.harness import ERB_DIR, cases

SEED = ERB_DIR / "seed.jsonl"
LINK = next(c.event for c in cases() if c.name == "edx.ui.lms.link_clicked")
VIDEO = next(c.event for c in cases() if c.name == "play_video")


def lines(*events: object) -> bytes:
    return b"".join((e if isinstance(e, bytes) else orjson.dumps(e)) + b"\n" for e in events)


def run(tmp_path: Path, data: bytes, *args: str, gz: bool = False) -> tuple[list[dict[str, object]], str]:
    source = tmp_path / ("in.jsonl.gz" if gz else "in.jsonl")
    source.write_bytes(gzip.compress(data) if gz else data)
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["transform", "--cdc", str(SEED), "--input", str(source),
                                      "--output", str(out), *args])
    assert result.exit_code == 0, result.output
    return [orjson.loads(line) for line in out.read_bytes().splitlines()], result.stderr


def test_xapi_statements_one_per_line_with_summary(tmp_path: Path) -> None:
    out, err = run(tmp_path, lines(LINK, VIDEO), "--format", "xapi", "--version-string", "event-routing-backends@1.1.1",
                   "--id-form", "replay")
    want = orjson.loads((ERB_DIR / "cases" / "edx.ui.lms.link_clicked" / "xapi.json").read_bytes())
    assert out[0] == want
    assert len(out) == 2
    assert "events read: 2; statements written: 2; not allowed: 0; rejected: 0" in err


def test_gzip_input_and_caliper_bare_events(tmp_path: Path) -> None:
    out, _ = run(tmp_path, lines(LINK), "--format", "caliper", gz=True)
    assert out[0]["type"] == "NavigationEvent" and "data" not in out[0]  # bare event, not an envelope
    assert str(out[0]["id"]).startswith("urn:uuid:")


def test_explain_keeps_input_order_and_gives_reasons(tmp_path: Path) -> None:
    anonymous = {**LINK, "context": {**LINK["context"], "user_id": None, "username": ""}}
    data = lines(LINK, b"{not json", {"name": "x.unknown", "timestamp": "2020-01-01T00:00:00+00:00"}, anonymous)
    out, err = run(tmp_path, data, "--format", "xapi", "--explain")
    assert [o["index"] for o in out] == [0, 1, 2, 3]
    assert out[0]["error"] is None and isinstance(out[0]["output"], list) and len(out[0]["output"]) == 1
    assert out[1] == {"index": 1, "name": None, "output": None, "error": "invalid_json"}
    assert out[2]["name"] == "x.unknown" and out[2]["error"] == "not_allowed"
    assert out[3]["error"] == "anonymous_user" and out[3]["output"] is None
    assert "rejected: 2 (anonymous_user=1, invalid_json=1)" in err and "not allowed: 1" in err


def test_actor_form_and_lms_root_options(tmp_path: Path) -> None:
    out, _ = run(tmp_path, lines(LINK), "--format", "xapi", "--ifi", "mbox", "--lms-root-url", "https://lms.example.org")
    assert out[0]["actor"] == {"objectType": "Agent", "mbox": "mailto:edx@example.com"}
    assert str(out[0]["object"]["id"]).startswith("http") and "https://lms.example.org/course/" in orjson.dumps(
        out[0]["context"]).decode()


def test_unknown_user_without_seed_is_rejected(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(lines(LINK))
    result = CliRunner().invoke(cli, ["transform", "--format", "xapi", "--input", str(source), "--explain"])
    assert result.exit_code == 0
    assert orjson.loads(result.stdout.splitlines()[0])["error"] == "unknown_user"


def test_bad_seed_and_bad_allow_list_are_clear_errors(tmp_path: Path) -> None:
    seed = tmp_path / "seed.jsonl"
    seed.write_text('{"topic": "openedx.cdc.auth_user", "key": 1, "value": "{broken"}\n')
    source = tmp_path / "in.jsonl"
    source.write_bytes(lines(LINK))
    result = CliRunner().invoke(cli, ["transform", "--format", "xapi", "--cdc", str(seed), "--input", str(source)])
    assert result.exit_code != 0 and "seed.jsonl:1: bad CDC record" in result.output
    result = CliRunner().invoke(cli, ["transform", "--format", "xapi", "--input", str(source), "--allow", "re:("])
    assert result.exit_code == 2 and "invalid regular expression" in result.output


CT_INPUT = Path(__file__).parent.parent / "golden" / "caliper11" / "fixtures" / "input"


def _ct(name: str) -> dict[str, object]:
    event: dict[str, object] = orjson.loads((CT_INPUT / f"{name}.json").read_bytes())
    return event


def test_caliper11_bare_events_and_explain(tmp_path: Path) -> None:
    data = lines(_ct("play_video"), _ct("edx.grades.problem.rescored(v2)"), LINK, {**LINK, "name": "edx.video.played"})
    out, err = run(tmp_path, data, "--format", "caliper11")
    assert len(out) == 2 and out[0]["@context"] == "http://purl.imsglobal.org/ctx/caliper/v1p1" and "data" not in out[0]
    assert out[0]["actor"] == {"id": "http://localhost:18000/u/honor", "name": "honor", "type": "Person"}
    assert out[1]["object"] == {"id": LINK["data"]["target_url"], "type": "WebPage"}  # event-tracking shape, shimmed
    assert "statements written: 2; not allowed: 1; rejected: 1 (missing_field=1)" in err
    explained, _ = run(tmp_path, data, "--format", "caliper11", "--explain")
    assert [e["name"] for e in explained] == ["play_video", "edx.grades.problem.rescored", "edx.ui.lms.link_clicked",
                                              "edx.video.played"]
    assert explained[0]["error"] is None and explained[1] == {
        "index": 1, "name": "edx.grades.problem.rescored", "output": None, "error": "missing_field:referer"}


def test_caliper11_settings_options(tmp_path: Path) -> None:
    data = lines(_ct("play_video"), _ct("edx.grades.problem.rescored(v2)"))
    out, _ = run(tmp_path, data, "--format", "caliper11", "--no-caliper11-personal-data", "--caliper11-passthrough")
    assert len(out) == 2
    assert "ip" not in out[0]["extensions"]["extra_fields"] and "name" not in out[0]["actor"]  # type: ignore[index]
    assert out[1]["id"] is None and out[1]["event_type"] == "edx.grades.problem.rescored"


def test_caliper11_page_views_only_when_asked(tmp_path: Path) -> None:
    view = {**_ct("page_close"), "event_type": "/courses/course-v1:edX+DemoX+Demo_Course/info", "event": "{}"}
    data = lines(_ct("play_video"), view)
    out, err = run(tmp_path, data, "--format", "caliper11")
    assert len(out) == 1 and "not allowed: 1" in err  # CT never delivered page views
    out, err = run(tmp_path, data, "--format", "caliper11", "--caliper11-page-views")
    assert [(o["type"], o["action"]) for o in out][1] == ("NavigationEvent", "NavigatedTo")
    assert "statements written: 2; not allowed: 0" in err


def test_json_that_is_not_an_object_is_a_clean_reject_and_a_syslog_prefix_is_cut(tmp_path: Path) -> None:
    out, err = run(tmp_path, b'[1, 2]\n"text"\n42\n' + b"Nov 22 10:00:00 lms: " + orjson.dumps(LINK) + b"\n",
                   "--format", "xapi", "--explain")
    assert [o["error"] for o in out] == ["invalid_event:not_an_object"] * 3 + [None]
    assert "rejected: 3 (invalid_event=3)" in err


def test_a_missing_input_or_seed_is_a_one_line_error_and_creates_no_output(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["transform", "--format", "xapi", "--input", str(tmp_path / "nope.jsonl"),
                                      "--output", str(out)])
    assert result.exit_code == 1 and "nope.jsonl: No such file or directory" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert not out.exists()
    result = CliRunner().invoke(cli, ["transform", "--format", "xapi", "--cdc", str(tmp_path / "seed.jsonl")])
    assert result.exit_code == 1 and "seed.jsonl: No such file or directory" in result.output


def test_output_options_default_to_the_workers_environment(tmp_path: Path) -> None:
    """In the worker's environment the CLI gives the worker's statements: STREAM_APP_* are the options' defaults."""
    source = tmp_path / "in.jsonl"
    source.write_bytes(lines(LINK))
    want = orjson.loads((ERB_DIR / "cases" / "edx.ui.lms.link_clicked" / "xapi.json").read_bytes())

    def transform(env: dict[str, str], *args: str) -> dict[str, object]:
        out = tmp_path / "out.jsonl"
        result = CliRunner().invoke(cli, ["transform", "--format", "xapi", "--cdc", str(SEED), "--input", str(source),
                                          "--output", str(out), *args], env=env)
        assert result.exit_code == 0, result.output
        statement: dict[str, object] = orjson.loads(out.read_bytes().splitlines()[0])
        return statement

    env = {"STREAM_APP_XAPI_ID_FORM": "replay", "STREAM_APP_TRANSFORMER_VERSION": "event-routing-backends@1.1.1"}
    assert transform(env) == want
    assert transform({}, "--id-form", "replay", "--version-string", "event-routing-backends@1.1.1") == want
    assert transform({**env, "STREAM_APP_XAPI_ID_FORM": "live"})["id"] != want["id"]
    # An option on the command line wins over the environment.
    assert transform({**env, "STREAM_APP_XAPI_ID_FORM": "live"}, "--id-form", "replay") == want
    moved = transform({**env, "STREAM_APP_LMS_ROOT_URL": "https://lms.example.org"})
    assert str(orjson.dumps(moved["actor"])).count("https://lms.example.org") == 1
