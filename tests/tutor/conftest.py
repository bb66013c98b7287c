"""Two rendered Tutor roots shared by the plugin's tests: every optional service on, and every one off.

"On" also declares an operator router and two workers, so the routers file and
the per-worker services have something to show; "off" points at the
operator's own Kafka, registry, Kafka Connect and LRS.
"""

from __future__ import annotations

import pytest

from tests.tutor.harness import Rendered, render

OPERATOR_ROUTER = {
    "name": "campus-lrs", "format": "xapi", "url": "https://lrs.example.org/xAPI/",
    "auth": {"type": "basic", "username": "lms", "password": "${CAMPUS_LRS_PASSWORD}"},
    "match_params": {"context.org_id": "^edX$"}, "retry_delays": ["30s", "5m"],
}

ALL_ON = {
    "STREAM_APP_RUN_KAFKA": True, "STREAM_APP_RUN_SCHEMA_REGISTRY": True, "STREAM_APP_RUN_DEBEZIUM": True,
    "STREAM_APP_RUN_RALPH": True, "STREAM_APP_WORKER_REPLICAS": 2, "STREAM_APP_ROUTERS": [OPERATOR_ROUTER],
    "STREAM_APP_ROUTER_ENV": {"CAMPUS_LRS_PASSWORD": "operator-secret"},
}
ALL_OFF = {
    "STREAM_APP_RUN_KAFKA": False, "STREAM_APP_RUN_SCHEMA_REGISTRY": False, "STREAM_APP_RUN_DEBEZIUM": False,
    "STREAM_APP_RUN_RALPH": False,
    "STREAM_APP_KAFKA_BOOTSTRAP_SERVERS": "kafka-1.example.org:9092,kafka-2.example.org:9092",
    "STREAM_APP_SCHEMA_REGISTRY_URL": "https://registry.example.org",
    "STREAM_APP_CONNECT_URL": "https://connect.example.org",
    "STREAM_APP_LRS_URL": "https://lrs.example.org/xAPI/",
    "STREAM_APP_INGEST_PROCESS": False,  # workers that share cores route on their event loops
}


@pytest.fixture(scope="session")
def all_on(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render(tmp_path_factory.mktemp("tutor-on"), ALL_ON)


@pytest.fixture(scope="session")
def all_off(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render(tmp_path_factory.mktemp("tutor-off"), ALL_OFF)


@pytest.fixture(scope="session", params=["on", "off"])
def rendered(request: pytest.FixtureRequest, all_on: Rendered, all_off: Rendered) -> Rendered:
    return all_on if request.param == "on" else all_off
