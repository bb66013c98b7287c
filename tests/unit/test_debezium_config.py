"""deploy/debezium/mysql-connector.json captures exactly the LMS tables topics.yaml declares, with the settings the
decoder and the tests assume; STREAM_APP_CDC_TOPIC_PREFIX names those topics as the connector does."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from stream_app.tables.columns import LMS_TABLES
from stream_app.topics import DEFAULT_FILE, TopicsFileError, load_topics

ROOT = Path(__file__).resolve().parents[2]
CONFIG = orjson.loads((ROOT / "deploy" / "debezium" / "mysql-connector.json").read_bytes())["config"]


def lms_tables() -> set[str]:
    return {spec.table for spec in load_topics(DEFAULT_FILE, cdc_prefix="").values() if spec.table}


def test_table_include_list_is_exactly_the_lms_tables_of_topics_yaml() -> None:
    database = CONFIG["database.include.list"]
    included = CONFIG["table.include.list"].split(",")
    assert all(name.startswith(f"{database}.") for name in included)
    assert sorted(name.split(".", 1)[1] for name in included) == sorted(lms_tables())
    assert len(included) == len(set(included))
    # Every captured table has its column types declared for schemaless decoding.
    assert set(LMS_TABLES) == lms_tables()


def test_connector_settings_the_decoder_and_tests_assume() -> None:
    assert CONFIG["connector.class"] == "io.debezium.connector.mysql.MySqlConnector"
    assert (CONFIG["topic.prefix"], CONFIG["database.include.list"]) == ("lms", "openedx")
    assert CONFIG["snapshot.mode"] == "initial"
    assert CONFIG["tombstones.on.delete"] == "true"  # deletes carry their before image, then a tombstone
    assert CONFIG["time.precision.mode"] in ("adaptive_time_microseconds", "connect")
    assert CONFIG["decimal.handling.mode"] in ("precise", "double", "string")
    for side in ("key", "value"):
        assert CONFIG[f"{side}.converter"] == "org.apache.kafka.connect.json.JsonConverter"
        assert CONFIG[f"{side}.converter.schemas.enable"] in ("true", "false")
    assert "openedx.auth_user.password" in CONFIG["column.exclude.list"].split(",")  # never leaves MySQL
    for key in ("database.hostname", "database.port", "database.user", "database.password", "database.server.id",
                "schema.history.internal.kafka.bootstrap.servers"):
        assert re.fullmatch(r"\$\{[A-Z_]+\}", CONFIG[key]), key


def test_cdc_prefix_names_the_lms_topics_as_debezium_does() -> None:
    prefix = f"{CONFIG['topic.prefix']}.{CONFIG['database.include.list']}"
    specs = load_topics(DEFAULT_FILE, cdc_prefix=prefix)
    plain = load_topics(DEFAULT_FILE, cdc_prefix="")
    for key, spec in specs.items():
        if spec.table:
            assert spec.name == f"lms.openedx.{spec.table}"
            assert plain[key].name == f"openedx.cdc.{spec.table}"
        else:
            assert spec.name == plain[key].name  # course_blocks and the rest keep their names
    assert specs["cdc_course_blocks"].name == "openedx.cdc.course_blocks"
    assert specs["cdc_auth_user"].name == "lms.openedx.auth_user"
    assert load_topics(DEFAULT_FILE, cdc_prefix="lms.openedx.")["cdc_auth_user"].name == "lms.openedx.auth_user"


def test_cdc_prefix_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_APP_CDC_TOPIC_PREFIX", "prod.edxapp")
    assert load_topics(DEFAULT_FILE)["cdc_teams"].name == "prod.edxapp.teams_courseteam"
    monkeypatch.delenv("STREAM_APP_CDC_TOPIC_PREFIX")
    assert load_topics(DEFAULT_FILE)["cdc_teams"].name == "openedx.cdc.teams_courseteam"


def test_a_table_field_must_be_a_table_name(tmp_path: Path) -> None:
    text = DEFAULT_FILE.read_text().replace("table: auth_user\n", "table: openedx.auth_user\n", 1)
    path = tmp_path / "topics.yaml"
    path.write_text(text)
    with pytest.raises(TopicsFileError, match="cdc_auth_user.*table"):
        load_topics(path, cdc_prefix="")
