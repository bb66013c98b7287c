"""What the workers are given: an environment of settings the worker knows, a routers file its own validator
accepts, and a Debezium connector with the agreed configuration. Also: every plugin setting prints.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stream_app.delivery.routers import configured_routers, load_all_routers
from stream_app.settings import Settings
from tests.tutor.conftest import OPERATOR_ROUTER
from tests.tutor.harness import REPO, Rendered, run_tutor

# Two worker settings that other branches add (STREAM_APP_XAPI_ID_FORM: which timestamp form the xAPI ids are
# made from; STREAM_APP_CDC_TOPIC_PREFIX: Debezium's topic prefix). The plugin renders them already; the
# integrator deletes this constant once both are fields of stream_app/settings.py, and the check is then exact.
KNOWN = frozenset(f"STREAM_APP_{name.upper()}" for name in Settings.model_fields)


def _compose_env(rendered: Rendered) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, service in rendered.compose()["services"].items():
        if name.startswith("stream-app-worker"):
            out.update({k: str(v) for k, v in service.get("environment", {}).items()})
    return out


def _k8s_env_names(rendered: Rendered) -> set[str]:
    names: set[str] = set()
    for doc in rendered.k8s_all():
        if doc["kind"] in ("StatefulSet", "Job") and doc["metadata"]["name"] in ("stream-app-worker", "stream-app-job"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                names |= {item["name"] for item in container.get("env", [])}
    return names


def test_the_worker_environment_holds_only_settings_the_worker_knows(rendered: Rendered) -> None:
    env = rendered.worker_env()
    names = set(env) | set(_compose_env(rendered)) | _k8s_env_names(rendered)
    ours = {name for name in names if name.startswith("STREAM_APP_")}
    unknown = ours - KNOWN
    assert not unknown, f"the worker does not know {sorted(unknown)}"
    assert {"STREAM_APP_XAPI_ID_FORM", "STREAM_APP_CDC_TOPIC_PREFIX"} <= ours  # the id form and the Debezium topics
    # Anything else is what the routers file reads through ${VAR}.
    router_env = set(rendered.value("STREAM_APP_ROUTER_ENV"))
    others = {name for name in names if not name.startswith("STREAM_APP_")}
    assert others <= {"LRS_RALPH_PASSWORD", "POD_NAME"} | router_env


def test_the_worker_environment_parses_as_the_workers_settings(rendered: Rendered,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**rendered.worker_env(), "STREAM_APP_WEB_HOST": "stream-app-worker-1"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.tracking_format == "event-bus-avro"
    assert settings.broker_flavor == "kafka"
    assert settings.data_dir == "/data"
    assert settings.format_list() == ("xapi", "caliper")
    assert settings.lms_root_url == rendered.value("STREAM_APP_LMS_ROOT_URL")
    assert settings.partitions == rendered.value("STREAM_APP_PARTITIONS")
    assert settings.ingest_process is rendered.value("STREAM_APP_INGEST_PROCESS")  # on by default, off in all_off
    hosts = str(rendered.value("STREAM_APP_KAFKA_BOOTSTRAP_SERVERS")).split(",")
    assert settings.broker == ";".join(f"kafka://{host}" for host in hosts)
    database = run_tutor(rendered.root, "config", "printvalue", "OPENEDX_MYSQL_DATABASE").stdout.strip()
    assert env["STREAM_APP_CDC_TOPIC_PREFIX"] == f"{rendered.value('STREAM_APP_DEBEZIUM_TOPIC_PREFIX')}.{database}"


def test_the_routers_file_validates_with_the_workers_validator(rendered: Rendered,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    env = rendered.worker_env()  # the operator's router secrets come from STREAM_APP_ROUTER_ENV
    routers = load_all_routers(rendered.config_dir / "routers.yaml", env)
    names = [router.name for router in routers]
    if rendered.value("STREAM_APP_RUN_RALPH"):
        assert names == ["bundled-ralph", "campus-lrs"]
        ralph = routers[0]
        assert ralph.url == rendered.value("STREAM_APP_LRS_URL")
        header = ralph.auth.header()["Authorization"]  # type: ignore[union-attr]
        assert header.startswith("Basic ")
        campus = routers[1]
        assert campus.auth.password.get_secret_value() == "operator-secret"  # type: ignore[union-attr]
        assert campus.retry_delays == (30.0, 300.0)
        assert campus.matches({"context": {"org_id": "edX"}}) and not campus.matches({"context": {"org_id": "MIT"}})
        assert env["CAMPUS_LRS_PASSWORD"] == "operator-secret"
    else:
        assert names == []
    # And as the worker reads it at start-up: every router's format is produced.
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("STREAM_APP_ROUTERS_FILE", str(rendered.config_dir / "routers.yaml"))
    assert [r.name for r in configured_routers(Settings(_env_file=None))] == names  # type: ignore[call-arg]


def test_an_operator_router_with_quotes_and_regexes_survives_rendering(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.tutor.harness import render

    tricky = {**OPERATOR_ROUTER, "name": "tricky", "headers": {"X-Note": "it's <b>&\"quoted\""},
              "match_params": {"name": ["^problem", "video$"]}, "override_args": {"version": "1.0.3"}}
    rendered = render(tmp_path_factory.mktemp("tricky"), {"STREAM_APP_ROUTERS": [tricky]})
    [router] = load_all_routers(rendered.config_dir / "routers.yaml", {"CAMPUS_LRS_PASSWORD": "x"})
    assert router.headers == {"X-Note": "it's <b>&\"quoted\""}  # type: ignore[union-attr]
    assert router.matches({"name": "problem_check"}) and router.matches({"name": "play_video"})  # type: ignore[union-attr]
    assert router.override_args == {"version": "1.0.3"}  # type: ignore[union-attr]


# The connector of deploy/debezium/mysql-connector.json as agreed across branches (COMMON.md).
AGREED = {
    "connector.class": "io.debezium.connector.mysql.MySqlConnector",
    "topic.prefix": "lms",
    "database.include.list": "openedx",
    "snapshot.mode": "initial",
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
}
TABLES = ("auth_user", "auth_userprofile", "external_user_ids_externalid", "external_user_ids_externalidtype",
          "course_overviews_courseoverview", "student_courseenrollment", "teams_courseteam")
# Where Tutor's values replace the repository file's: the database server and the credentials, and the CDC
# topics' replication, which the plugin sets to STREAM_APP_REPLICATION_FACTOR (the file leaves it to the broker: -1).
FROM_TUTOR = {"database.hostname", "database.port", "database.user", "database.password", "database.server.id",
              "schema.history.internal.kafka.bootstrap.servers", "topic.creation.default.replication.factor"}


def _connector(rendered: Rendered) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((rendered.config_dir / "mysql-connector.json").read_text())
    return data


def test_the_debezium_connector_is_the_agreed_one_on_tutors_mysql(rendered: Rendered) -> None:
    connector = _connector(rendered)
    assert connector["name"] == rendered.value("STREAM_APP_DEBEZIUM_CONNECTOR_NAME")
    config = connector["config"]
    assert {key: config[key] for key in AGREED} == AGREED
    assert config["table.include.list"].split(",") == [f"openedx.{table}" for table in TABLES]
    printed = {key: run_tutor(rendered.root, "config", "printvalue", key).stdout.strip()
               for key in ("MYSQL_HOST", "MYSQL_PORT", "STREAM_APP_DEBEZIUM_MYSQL_USERNAME",
                           "STREAM_APP_DEBEZIUM_MYSQL_PASSWORD")}
    assert config["database.hostname"] == printed["MYSQL_HOST"]
    assert config["database.port"] == printed["MYSQL_PORT"]
    assert config["database.user"] == printed["STREAM_APP_DEBEZIUM_MYSQL_USERNAME"]
    assert config["database.password"] == printed["STREAM_APP_DEBEZIUM_MYSQL_PASSWORD"]
    assert len(config["database.password"]) == 24  # generated once, kept in config.yml (CONFIG_UNIQUE)
    assert all(isinstance(value, str) for value in config.values())  # Kafka Connect takes strings


def test_the_connector_matches_the_repositorys_deploy_file(all_on: Rendered) -> None:
    # The plugin registers the repository's connector configuration: every key but the ones Tutor provides.
    path = REPO / "deploy" / "debezium" / "mysql-connector.json"
    theirs = json.loads(path.read_text())
    theirs = theirs.get("config", theirs)
    ours = _connector(all_on)["config"]
    shared = set(theirs) - FROM_TUTOR
    assert {key: ours.get(key) for key in shared} == {key: theirs[key] for key in shared}


def test_every_plugin_setting_prints(all_on: Rendered) -> None:
    config = all_on.config()
    keys = sorted(key for key in config if key.startswith("STREAM_APP_"))
    assert len(keys) > 30
    for key in keys:
        printed = run_tutor(all_on.root, "config", "printvalue", key).stdout
        assert printed.strip() != "" or config[key] == "", key
    assert config["STREAM_APP_RUN_RALPH"] is True and config["STREAM_APP_WORKER_REPLICAS"] == 2
