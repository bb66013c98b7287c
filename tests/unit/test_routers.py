"""The routers file: validation with clear errors, `${VAR}` secrets, and ERB's match/override semantics."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml

from stream_app.delivery.routers import Router, RoutersFileError, load_routers

EVENT = {"name": "problem_check", "context": {"org_id": "edX", "course_id": "course-v1:edX+D+R", "user_id": 3},
         "data": {"problem_id": "block-v1:edX+D+R+type@problem+block@p1"}}

FILE = """
routers:
  - name: campus-lrs
    format: xapi
    url: https://lrs.example.org/xAPI/
    auth: {type: basic, username: lms, password: ${LRS_PASSWORD}}
    match_params: {"context.org_id": "^edX$", name: ["^problem", "video"]}
    override_args: {version: "1.0.0"}
    batch: {size: 50, max_wait: 2s}
    timeout: 5s
    retry_delays: [10s, 1m]
  - name: caliper-sink
    format: caliper
    url: http://127.0.0.1:9000/caliper
    auth: {type: bearer, token: ${CALIPER_TOKEN}}
    headers: {X-Tenant: demo}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routers.yaml"
    path.write_text(text)
    return path


def test_valid_file_with_secrets_from_the_environment(tmp_path: Path) -> None:
    routers = load_routers(write(tmp_path, FILE), {"LRS_PASSWORD": "s3cret", "CALIPER_TOKEN": "tkn-XYZ"})
    lrs, caliper = routers
    assert lrs.batch_size == 50 and lrs.batch_max_wait == 2 and lrs.timeout == 5 and lrs.retry_delays == (10, 60)
    assert lrs.auth.header() == {"Authorization": "Basic bG1zOnMzY3JldA=="}
    assert caliper.auth.header() == {"Authorization": "Bearer tkn-XYZ"} and caliper.headers == {"X-Tenant": "demo"}
    assert "s3cret" not in repr(lrs) and "tkn-XYZ" not in repr(caliper)  # secrets never in reprs or logs
    assert caliper.retry_delays == (30, 300, 1800)  # default chain 30 s → 5 min → 30 min


@pytest.mark.parametrize(("text", "message"), [
    (FILE.replace("${LRS_PASSWORD}", "${NOPE}"), "'campus-lrs'.auth.password: environment variable NOPE"),
    (FILE.replace("format: caliper", "format: tincan"), "'caliper-sink': field 'format' must be xapi, caliper or"),
    (FILE.replace('"^edX$"', '"^(edX"'), "router 'campus-lrs': field 'match_params'.context.org_id: invalid regular"),
    (FILE.replace("name: caliper-sink", "name: campus-lrs"), "router name(s) used twice: ['campus-lrs']"),
    (FILE.replace("name: caliper-sink", "name: Caliper_Sink"), "field 'name' must match [a-z0-9-]+"),
    (FILE.replace("timeout: 5s", "timeout: soon"), "router 'campus-lrs': field 'timeout'"),
    (FILE.replace("url: http://127.0.0.1:9000/caliper", "url: ftp://x"), "field 'url' must be an http(s) URL"),
    (FILE.replace("retry_delays: [10s, 1m]", "retry_delays: []"),
     "'campus-lrs': field 'retry_delays' must be a non-empty"),
    ("routers: {}", "expected a top-level 'routers' list"),
])
def test_invalid_files_name_the_router_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RoutersFileError) as info:
        load_routers(write(tmp_path, text), {"LRS_PASSWORD": "x", "CALIPER_TOKEN": "y"})
    assert message in str(info.value)
    assert "s3cret" not in str(info.value)


def router(match: dict[str, object]) -> Router:
    """A router built through the loader, so it shares the file's validation."""
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "r.yaml"
        file.write_text(yaml.safe_dump({"routers": [{"name": "r", "format": "xapi", "url": "http://x",
                                                     "match_params": match}]}))
        return load_routers(file, {})[0]


def test_match_params_follow_erb() -> None:
    # ERB's documented examples: exact dotted path, AND across keys, OR within a list, unanchored search.
    assert router({}).matches(EVENT)
    assert router({"context.org_id": "edX"}).matches(EVENT)
    assert router({"context.org_id": ["MITx", "edX"]}).matches(EVENT)
    assert not router({"context.org_id": ["MITx", "HarvardX"]}).matches(EVENT)
    assert router({"name": "check"}).matches(EVENT)  # unanchored
    assert not router({"name": "^check"}).matches(EVENT)
    assert not router({"context.org_id": "edX", "name": "video"}).matches(EVENT)  # AND
    assert not router({"course_id": "edX"}).matches(EVENT)  # not recursive: top-level course_id is absent
    assert not router({"context.user_id": "3"}).matches(EVENT)  # non-string values never match
    assert not router({"data.missing.deeper": ".*"}).matches(EVENT)


def test_override_args_are_a_shallow_root_update() -> None:
    statement = {"id": "1", "version": "1.0.3", "context": {"extensions": {"a": 1}}}
    r = Router(name="r", format="xapi", url="http://x", override_args={"version": "1.0.0", "context": {}})
    out = r.override(statement)
    assert out == {"id": "1", "version": "1.0.0", "context": {}}
    assert statement["version"] == "1.0.3"  # the original is untouched


def test_the_shipped_example_file_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "routers.example.yaml"
    (ralph,) = load_routers(example, {"RALPH_LRS_USERNAME": "u", "RALPH_LRS_PASSWORD": "p"})
    assert ralph.format == "xapi" and ralph.url.endswith("/xAPI/") and ralph.auth.type == "basic"


# -- type: clickhouse ---------------------------------------------------------------------------
CLICKHOUSE = """
routers:
  - name: campus-lrs
    format: xapi
    url: https://lrs.example.org/xAPI/
  - name: aspects
    type: clickhouse
    url: https://clickhouse.example.org:8443
    username: ch_lrs
    password: ${CH_PASSWORD}
    databases: {xapi: xapi_prod}
    batch: {size: 5000, max_wait: 2s}
    objects: [statements, course_overviews, user_profile]
    pii: true
    retry_delays: [10s]
  - name: local-aspects
    type: clickhouse
    url: chdb://./data/clickhouse
"""


def test_clickhouse_routers_are_parsed_apart_from_http_routers(tmp_path: Path) -> None:
    from stream_app.delivery.routers import ClickHouseRouter, load_all_routers, load_clickhouse_routers

    path = write(tmp_path, CLICKHOUSE)
    env = {"CH_PASSWORD": "ch-s3cret"}
    assert [r.name for r in load_routers(path, env)] == ["campus-lrs"]  # HTTP delivery sees only its own kind
    assert [r.name for r in load_all_routers(path, env)] == ["campus-lrs", "aspects", "local-aspects"]
    aspects, local = load_clickhouse_routers(path, env)
    assert isinstance(aspects, ClickHouseRouter) and aspects.password is not None
    assert aspects.password.get_secret_value() == "ch-s3cret" and "ch-s3cret" not in repr(aspects)
    assert aspects.databases == {"xapi": "xapi_prod", "event_sink": "event_sink"}
    assert (aspects.batch_size, aspects.batch_max_wait, aspects.retry_delays) == (5000, 2, (10,))
    assert aspects.objects == ("statements", "course_overviews", "user_profile") and aspects.chdb_path is None
    # Defaults: large batches for ClickHouse, Aspects' database names, and no personal data.
    assert local.chdb_path == "./data/clickhouse" and local.username == "default"
    assert (local.batch_size, local.batch_max_wait) == (10_000, 1)
    assert local.objects == ("statements", "course_overviews", "course_blocks", "course_enrollment")


@pytest.mark.parametrize(("change", "message"), [
    (("pii: true", "pii: false"), "router 'aspects': field 'objects' lists personal data ['user_profile']: set "
                                  "'pii: true'"),
    (("objects: [statements,", "objects: [grades,"), "router 'aspects': field 'objects' must be a non-empty list"),
    (("url: chdb://./data/clickhouse", "url: chdb://"), "router 'local-aspects': field 'url' must be an http(s) URL"),
    (("url: chdb://./data/clickhouse", "url: tcp://ch:9000"), "router 'local-aspects': field 'url'"),
    (("databases: {xapi: xapi_prod}", "databases: {xapi: 'x; DROP'}"), "router 'aspects': field 'databases.xapi'"),
    (("databases: {xapi: xapi_prod}", "databases: {ralph: x}"), "router 'aspects': field 'databases' must be"),
    (("size: 5000", "size: 0"), "router 'aspects': field 'batch.size' must be a positive integer"),
    (("${CH_PASSWORD}", "${NOPE}"), "router 'aspects'.password: environment variable NOPE is not set"),
    (("username: ch_lrs", "format: xapi"), "router 'aspects': unknown field(s) ['format'] for type clickhouse"),
    (("type: clickhouse\n    url: https", "type: kafka\n    url: https"), "router 'aspects': field 'type' must be"),
    (("name: local-aspects", "name: aspects"), "router name(s) used twice: ['aspects']"),
])
def test_invalid_clickhouse_routers_name_the_router_and_field(tmp_path: Path, change: tuple[str, str],
                                                               message: str) -> None:
    with pytest.raises(RoutersFileError) as info:
        load_routers(write(tmp_path, CLICKHOUSE.replace(*change)), {"CH_PASSWORD": "ch-s3cret"})
    assert message in str(info.value)
    assert "ch-s3cret" not in str(info.value)


def test_a_router_of_a_format_the_worker_does_not_produce_stops_start_up(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from stream_app.delivery.routers import configured, configured_routers
    from stream_app.settings import Settings

    path = write(tmp_path, """
routers:
  - name: ct-sink
    format: caliper11
    url: https://caliper.example.org/events
""")
    monkeypatch.setenv("STREAM_APP_ROUTERS_FILE", str(path))
    with pytest.raises(RoutersFileError, match="router 'ct-sink': field 'format' needs the caliper11 output"):
        configured_routers(Settings())
    monkeypatch.setenv("STREAM_APP_FORMATS", "xapi,caliper,caliper11")
    (router,) = configured_routers(Settings())
    assert router.format == "caliper11"

    monkeypatch.setenv("STREAM_APP_ROUTERS_FILE", str(write(tmp_path, CLICKHOUSE)))
    monkeypatch.setenv("CH_PASSWORD", "x")
    monkeypatch.setenv("STREAM_APP_FORMATS", "caliper")
    with pytest.raises(RoutersFileError, match="router 'campus-lrs'"):
        configured_routers(Settings())
    # A ClickHouse sink reads the xAPI statements: without them it stops start-up too.
    sinks_only = CLICKHOUSE.replace("""  - name: campus-lrs
    format: xapi
    url: https://lrs.example.org/xAPI/
""", "")
    monkeypatch.setenv("STREAM_APP_ROUTERS_FILE", str(write(tmp_path, sinks_only)))
    with pytest.raises(RoutersFileError, match="router 'aspects': field 'format' needs the xapi output"):
        configured(Settings())
