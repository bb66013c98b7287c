"""The init tasks and the backfill job, as Tutor would hand them to its job containers.

Tutor runs each task as `sh -e -c SCRIPT` in the `<service>-job` container; no
container runs here, so each script is rendered by Tutor's renderer with the
test root's configuration and checked: the shell parses it, its embedded Python
compiles, and it does what it says (grants, connector URL, topic command). The
backfill job's command is run for real with stream_app's console script on a
small tracking log, in --dry-run mode (no broker).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tutor.harness import Rendered, render, run_tutor, tutor_python

STREAM_APP = str(Path(sys.executable).with_name("stream-app"))


def _init_tasks(rendered: Rendered) -> list[tuple[str, str]]:
    code = ("import json; from tutor import config, env; cfg = config.load_full(os.environ['TUTOR_ROOT']); "
            "tasks = hooks.Filters.CLI_DO_INIT_TASKS.iterate_from_context(hooks.Contexts.app('stream-app').name); "
            "print(json.dumps([(service, env.render_str(cfg, task)) for service, task in tasks]))")
    return [tuple(task) for task in json.loads(tutor_python(rendered.root, code))]  # type: ignore[misc]


def _sh_parses(script: str) -> None:
    result = subprocess.run(["sh", "-n", "-e", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_init_tasks_run_in_the_mysql_and_stream_app_jobs_in_order(rendered: Rendered) -> None:
    tasks = _init_tasks(rendered)
    assert [service for service, _ in tasks] == ["mysql", "stream-app", "stream-app"]
    jobs = rendered.compose("docker-compose.jobs.yml")["services"]
    assert {"mysql-job", "stream-app-job"} <= set(jobs)
    for _, script in tasks:
        _sh_parses(script)
    # `--limit=stream-app` selects exactly these; `tutor local do init --help` knows the option.
    assert "--limit" in run_tutor(rendered.root, "local", "do", "init", "--help").stdout


def test_the_mysql_task_creates_the_debezium_user_with_its_grants(rendered: Rendered) -> None:
    script = dict(_init_tasks(rendered))["mysql"]
    user = rendered.value("STREAM_APP_DEBEZIUM_MYSQL_USERNAME")
    password = run_tutor(rendered.root, "config", "printvalue", "STREAM_APP_DEBEZIUM_MYSQL_PASSWORD").stdout.strip()
    root_password = run_tutor(rendered.root, "config", "printvalue", "MYSQL_ROOT_PASSWORD").stdout.strip()
    assert f"--password=\"{root_password}\"" in script
    assert f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}';" in script
    assert f"ALTER USER '{user}'@'%' IDENTIFIED BY '{password}';" in script  # a re-run follows a changed password
    grant = re.search(r"GRANT (.+) ON \*\.\* TO '([^']+)'@'%';", script)
    assert grant is not None and grant.group(2) == user
    assert {p.strip() for p in grant.group(1).split(",")} == {
        "SELECT", "RELOAD", "SHOW DATABASES", "REPLICATION SLAVE", "REPLICATION CLIENT"}


def test_the_topics_task_runs_stream_apps_topic_creation(rendered: Rendered) -> None:
    script = _init_tasks(rendered)[1][1]
    commands = [line for line in script.splitlines() if line.strip() and not line.startswith("#")]
    assert commands == ["stream-app topics create --timeout 300"]
    # The command exists with these options in the installed stream_app.
    result = subprocess.run([STREAM_APP, "topics", "create", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--timeout" in result.stdout


def test_the_connector_task_puts_the_rendered_connector_to_kafka_connect(rendered: Rendered) -> None:
    script = _init_tasks(rendered)[2][1]
    python = script.split("<<'PYTHON'\n", 1)[1].split("\nPYTHON", 1)[0]
    compile(python, "connector.sh", "exec")
    connect = str(rendered.value("STREAM_APP_CONNECT_URL")).rstrip("/")
    name = rendered.value("STREAM_APP_DEBEZIUM_CONNECTOR_NAME")
    assert f'url = "{connect}".rstrip("/") + "/connectors/{name}/config"' in python
    assert 'method="PUT"' in python
    # It reads the connector from the config volume, where the jobs mount the rendered file.
    assert 'open("/config/mysql-connector.json"' in python
    assert "../plugins/stream-app/apps/config:/config:ro" in rendered.compose("docker-compose.jobs.yml")[
        "services"]["stream-app-job"]["volumes"]


def test_tasks_say_so_and_do_nothing_when_debezium_registration_is_off(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    rendered = render(tmp_path_factory.mktemp("no-debezium"), {"STREAM_APP_DEBEZIUM_REGISTER": False})
    tasks = _init_tasks(rendered)
    mysql, connector = tasks[0][1], tasks[2][1]
    assert "GRANT" not in mysql and "PUT" not in connector
    assert "STREAM_APP_DEBEZIUM_REGISTER is off" in mysql and "STREAM_APP_DEBEZIUM_REGISTER is off" in connector
    for _, script in tasks:
        _sh_parses(script)


def _backfill(rendered: Rendered, paths: tuple[str, ...] = (), rate: float | None = None,
              dry_run: bool = False) -> str:
    code = ("from tutor import config, env; from tutorstreamapp.plugin import backfill_tasks; "
            "cfg = config.load_full(os.environ['TUTOR_ROOT']); "
            f"[(service, command)] = backfill_tasks({paths!r}, {rate!r}, {dry_run!r}); "
            "print(service); print(env.render_str(cfg, command))")
    service, command = tutor_python(rendered.root, code).splitlines()
    assert service == "stream-app"
    return command


def test_the_backfill_job_is_a_tutor_do_command(all_on: Rendered) -> None:
    help_text = run_tutor(all_on.root, "local", "do", "--help").stdout
    assert "stream-app-backfill" in help_text
    assert "--path" in run_tutor(all_on.root, "local", "do", "stream-app-backfill", "--help").stdout


def test_the_backfill_command_loads_the_lms_tracking_logs_with_stream_app_load(all_on: Rendered,
                                                                              tmp_path: Path) -> None:
    command = _backfill(all_on)
    assert command.strip() == "stream-app load --no-progress '/openedx/lms-data/logs/tracking.log*'"
    jobs = all_on.compose("docker-compose.jobs.yml")["services"]
    assert "../../data/lms/logs:/openedx/lms-data/logs:ro" in jobs["stream-app-job"]["volumes"]

    # The same command line, pointed at a real log and in --dry-run mode, is accepted by stream-app load.
    logs = tmp_path / "logs"
    logs.mkdir()
    events = [{"name": "problem_check", "time": "2026-01-01T00:00:00+00:00", "event_type": "problem_check",
               "username": "learner", "event": {}, "context": {"user_id": 1}}] * 3
    (logs / "tracking.log").write_text("".join(json.dumps(e) + "\n" for e in events) + "not json\n")
    argv = shlex.split(_backfill(all_on, (str(logs / "tracking.log*"),), rate=1000.0, dry_run=True))
    assert argv[:2] == ["stream-app", "load"]
    result = subprocess.run([STREAM_APP, *argv[1:]], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "invalid_json" in result.stderr
    assert "events valid (dry run, nothing produced): 3; bad lines: 1" in result.stderr


def _connector_python(rendered: Rendered) -> str:
    script = _init_tasks(rendered)[2][1]
    python = script.split("<<'PYTHON'\n", 1)[1].split("\nPYTHON", 1)[0]
    # The job mounts the rendered config directory at /config; here it is read where Tutor rendered it.
    python = python.replace('"/config/mysql-connector.json"', repr(str(rendered.config_dir / "mysql-connector.json")))
    # The job waits 10 s between attempts (Connect takes a while to start); here the scripted answers come at once.
    assert python.count("time.sleep(10)") == 1, python
    return python.replace("time.sleep(10)", "time.sleep(0.1)")


def test_the_connector_task_registers_through_the_rest_api_and_waits_for_connect(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.delivery.endpoint import Endpoint, Reply

    with Endpoint().running() as connect:
        # Kafka Connect still starting (503), then rebalancing (409), then it takes the configuration.
        connect.script(Reply(503, b'{"error_code": 503}'), Reply(409, b'{"error_code": 409}'), Reply(201, b"{}"))
        rendered = render(tmp_path_factory.mktemp("connect"), {"STREAM_APP_CONNECT_URL": connect.url})
        result = subprocess.run([sys.executable, "-c", _connector_python(rendered)], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        assert "connector registered" in result.stdout and "HTTP 503, retrying" in result.stdout
        name = rendered.value("STREAM_APP_DEBEZIUM_CONNECTOR_NAME")
        assert [(r.method, r.path) for r in connect.requests] == [("PUT", f"/connectors/{name}/config")] * 3
        expected = json.loads((rendered.config_dir / "mysql-connector.json").read_text())["config"]
        assert all(r.json() == expected for r in connect.requests)
        assert connect.requests[0].headers["Content-Type"] == "application/json"


def test_the_connector_task_stops_with_connects_reason_on_a_bad_configuration(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.delivery.endpoint import Endpoint, Reply

    with Endpoint().running() as connect:
        connect.script(Reply(400, b'{"error_code": 400, "message": "Connector configuration is invalid"}'))
        rendered = render(tmp_path_factory.mktemp("connect-bad"), {"STREAM_APP_CONNECT_URL": connect.url})
        result = subprocess.run([sys.executable, "-c", _connector_python(rendered)], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode != 0
        assert "refused the connector (HTTP 400)" in result.stderr
        assert "Connector configuration is invalid" in result.stderr
        assert len(connect.requests) == 1
