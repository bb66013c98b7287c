"""The Tutor plugin (API v1): settings, patches, templates, init tasks, jobs and images of stream_app.

Tutor imports this module when the plugin is enabled. Everything it declares is
data for Tutor's renderer: `CONFIG_DEFAULTS` / `CONFIG_UNIQUE` (the
`STREAM_APP_*` Tutor settings), the patch files of `patches/` (LMS/CMS settings,
docker-compose services, k8s manifests), the templates of `templates/stream-app/`
(the worker's environment, routers and topics files, the Debezium connector,
the image's Dockerfile) and the init tasks and `do` job. It never imports
stream_app (which is not installed beside Tutor); the two pieces of stream_app's
knowledge it carries are checked against stream_app by tests/tutor: the event
names the LMS must put on the bus (the generated `event_bus_tracking_logs.txt`,
stream_app's default allow lists) and its copy of topics.yaml. Nothing here starts a container: Tutor does, when the
operator runs `tutor local launch` or `tutor k8s launch`.
"""

from __future__ import annotations

import base64
import typing as t
import uuid
from pathlib import Path

import click
from tutor import hooks

from .__about__ import __version__

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"

# The event names the LMS sends on the event bus (EVENT_BUS_TRACKING_LOGS): the union of stream_app's default
# xAPI and Caliper allow lists, generated from stream_app/transforms/filters.py (tests/tutor checks it).
TRACKING_LOGS = tuple(line.strip() for line in (HERE / "event_bus_tracking_logs.txt").read_text().splitlines()
                      if line.strip() and not line.startswith("#"))

# Every image the rendered files name, in one place. Tags checked to exist as written in docs/tutor.md;
# the worker image is built from the plugin's Dockerfile (`tutor images build stream-app`).
IMAGES = {
    "STREAM_APP_DOCKER_IMAGE": "stream-app:{{ STREAM_APP_VERSION }}",
    "STREAM_APP_DOCKER_IMAGE_PYTHON": "docker.io/library/python:3.11-slim",
    "STREAM_APP_DOCKER_IMAGE_KAFKA": "docker.io/apache/kafka:3.9.0",
    "STREAM_APP_DOCKER_IMAGE_SCHEMA_REGISTRY": "docker.io/confluentinc/cp-schema-registry:7.7.1",
    "STREAM_APP_DOCKER_IMAGE_CONNECT": "quay.io/debezium/connect:2.7.4.Final",
    "STREAM_APP_DOCKER_IMAGE_RALPH": "docker.io/fundocker/ralph:5.0.1",
}

hooks.Filters.CONFIG_DEFAULTS.add_items(
    [
        ("STREAM_APP_VERSION", __version__),
        *IMAGES.items(),
        # What the worker image installs: stream_app is not on PyPI yet, so point this at a wheel URL or a
        # git URL (`stream-app @ git+https://...@v0.1.0`) before `tutor images build stream-app`.
        ("STREAM_APP_PIP_SPEC", "stream-app=={{ STREAM_APP_VERSION }}"),
        ("STREAM_APP_WORKER_REPLICAS", 1),
        # Each worker routes the tracking topic in a second process (~1.2 cores per worker); False keeps it on
        # the worker's event loop (one core), for workers that share cores.
        ("STREAM_APP_INGEST_PROCESS", True),
        ("STREAM_APP_WEB_PORT", 6066),
        ("STREAM_APP_WORKER_VOLUME_SIZE", "5Gi"),
        # Optional services: each runs exactly when its switch is on; off means "use the URL below".
        ("STREAM_APP_RUN_KAFKA", True),
        ("STREAM_APP_RUN_SCHEMA_REGISTRY", True),
        ("STREAM_APP_RUN_DEBEZIUM", True),
        ("STREAM_APP_RUN_RALPH", False),
        ("STREAM_APP_KAFKA_BOOTSTRAP_SERVERS", "stream-app-kafka:9092"),
        ("STREAM_APP_KAFKA_VOLUME_SIZE", "10Gi"),
        ("STREAM_APP_SCHEMA_REGISTRY_URL", "http://stream-app-schema-registry:8081"),
        ("STREAM_APP_CONNECT_URL", "http://stream-app-connect:8083"),
        ("STREAM_APP_LRS_URL", "http://stream-app-ralph:8100/xAPI/"),
        ("STREAM_APP_RALPH_VOLUME_SIZE", "1Gi"),
        # Topics stream_app creates (and the event bus's tracking topic).
        ("STREAM_APP_PARTITIONS", 4),
        ("STREAM_APP_REPLICATION_FACTOR", 1),
        ("STREAM_APP_EVENT_BUS_TOPIC_PREFIX", "openedx"),
        # Output.
        ("STREAM_APP_FORMATS", "xapi,caliper"),
        ("STREAM_APP_LMS_ROOT_URL", "{% if ENABLE_HTTPS %}https{% else %}http{% endif %}://{{ LMS_HOST }}"),
        # live: ERB's live paths (Celery and event bus); replay: ERB's transform_tracking_logs file replays.
        ("STREAM_APP_XAPI_ID_FORM", "live"),
        ("STREAM_APP_XAPI_ACTOR_IFI", "external_id"),
        # Empty: stream_app's own. For a switch-over into the LRS ERB fills, ERB's: event-routing-backends@X.Y.Z.
        ("STREAM_APP_TRANSFORMER_VERSION", ""),
        # True turns event-routing-backends' transformation off in the LMS (XAPI/CALIPER_EVENTS_ENABLED = False).
        ("STREAM_APP_DISABLE_ERB", False),
        # The worker's routers file (ARCHITECTURE.md, "Delivery"), as a list of router mappings. With
        # STREAM_APP_RUN_RALPH a router to the bundled Ralph is added.
        ("STREAM_APP_ROUTERS", []),
        # Variables the routers refer to as ${NAME} (their secrets), put into the workers' environment. Names must
        # not start with STREAM_APP_ (those are the worker's settings).
        ("STREAM_APP_ROUTER_ENV", {}),
        # Debezium on Tutor's MySQL (topic.prefix; topics are <prefix>.<database>.<table>).
        # Off when CDC reaches the topics some other way: then no MySQL user and no connector are made.
        ("STREAM_APP_DEBEZIUM_REGISTER", True),
        ("STREAM_APP_DEBEZIUM_TOPIC_PREFIX", "lms"),
        ("STREAM_APP_DEBEZIUM_CONNECTOR_NAME", "stream-app-lms-mysql"),
        ("STREAM_APP_DEBEZIUM_SERVER_ID", 184054),
        ("STREAM_APP_DEBEZIUM_MYSQL_USERNAME", "stream_app_debezium"),
        # What `tutor local do stream-app-backfill` loads by default (the LMS's tracking logs, any
        # `stream-app load` path: glob, directory or s3:// URL).
        ("STREAM_APP_BACKFILL_PATHS", ["/openedx/lms-data/logs/tracking.log*"]),
        # Listed in the LMS's EVENT_BUS_TRACKING_LOGS; extend it in your own plugin for your own transformers.
        ("STREAM_APP_EVENT_BUS_TRACKING_LOGS", list(TRACKING_LOGS)),
    ]
)


def _cluster_id() -> str:
    # KRaft wants a base64 (URL-safe, unpadded) UUID; generated once, at the first `tutor config save`.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


hooks.Filters.CONFIG_UNIQUE.add_items(
    [
        ("STREAM_APP_DEBEZIUM_MYSQL_PASSWORD", "{{ 24|random_string }}"),
        ("STREAM_APP_RALPH_USERNAME", "stream-app"),
        ("STREAM_APP_RALPH_PASSWORD", "{{ 24|random_string }}"),
        ("STREAM_APP_KAFKA_CLUSTER_ID", _cluster_id()),
    ]
)

hooks.Filters.ENV_TEMPLATE_ROOTS.add_item(str(TEMPLATES))
hooks.Filters.ENV_TEMPLATE_TARGETS.add_items(
    [
        ("stream-app/apps", "plugins"),
        ("stream-app/build", "plugins"),
    ]
)

for patch in sorted((HERE / "patches").iterdir()):
    hooks.Filters.ENV_PATCHES.add_item((patch.name, patch.read_text()))

hooks.Filters.IMAGES_BUILD.add_item(
    ("stream-app", ("plugins", "stream-app", "build", "stream-app"), "{{ STREAM_APP_DOCKER_IMAGE }}", ())
)
# `tutor images push stream-app`, for a cluster that pulls the worker image from your registry.
hooks.Filters.IMAGES_PUSH.add_item(("stream-app", "{{ STREAM_APP_DOCKER_IMAGE }}"))
for name, setting in (("stream-app-kafka", "KAFKA"), ("stream-app-schema-registry", "SCHEMA_REGISTRY"),
                      ("stream-app-connect", "CONNECT"), ("stream-app-ralph", "RALPH")):
    hooks.Filters.IMAGES_PULL.add_item((name, f"{{{{ STREAM_APP_DOCKER_IMAGE_{setting} }}}}"))


def _task(name: str) -> str:
    return (TEMPLATES / "stream-app" / "jobs" / "init" / name).read_text()


# Init tasks (`tutor local do init --limit=stream-app`), after Tutor's own: the Debezium user on Tutor's MySQL
# (in Tutor's mysql job, with the root credentials), then the topics and the connector (in the stream-app job,
# the worker image). Tutor renders each script with the configuration when it runs it. (Tutor imports this
# module inside the plugin's context, so `--limit=stream-app` selects exactly these.)
hooks.Filters.CLI_DO_INIT_TASKS.add_items(
    [
        ("mysql", _task("mysql-debezium-user.sh")),
        ("stream-app", _task("topics.sh")),
        ("stream-app", _task("connector.sh")),
    ],
    priority=hooks.priorities.LOW,
)


@click.command("stream-app-backfill", help="Load the LMS's tracking logs into the tracking topic (stream-app load)")
@click.option("--path", "paths", multiple=True,
              help="Files, directories, globs or s3:// URLs (default: STREAM_APP_BACKFILL_PATHS).")
@click.option("--rate", type=float, default=None, help="At most this many events per second.")
@click.option("--dry-run", is_flag=True, help="Read, check and count; produce nothing.")
def backfill(paths: tuple[str, ...], rate: float | None, dry_run: bool) -> t.Iterable[tuple[str, str]]:
    """`tutor local do stream-app-backfill`: `stream-app load` in the stream-app job container."""
    return backfill_tasks(paths, rate, dry_run)


def backfill_tasks(paths: t.Sequence[str], rate: float | None, dry_run: bool) -> list[tuple[str, str]]:
    """The job's (service, command template); Tutor renders the template with the configuration."""
    # Quoted: `stream-app load` expands globs itself (oldest rotated file first), the shell must not.
    args = " ".join(_quote(p) for p in paths) if paths else (
        "{% for path in STREAM_APP_BACKFILL_PATHS %}'{{ path }}' {% endfor %}")
    options = (f" --rate {rate}" if rate is not None else "") + (" --dry-run" if dry_run else "")
    # Every bad line is reported on stderr as file:line: reason; bad lines never stop the run.
    return [("stream-app", f"stream-app load --no-progress{options} {args}")]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


hooks.Filters.CLI_DO_COMMANDS.add_item(backfill)
