"""The services the plugin renders for `tutor local` and `tutor k8s`: present exactly when switched on, valid YAML,
every image from the plugin's one list with a pinned tag, every port and volume declared once.

Nothing is started: these are the files `tutor local launch` / `tutor k8s launch` would use.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.tutor.harness import Rendered

OPTIONAL = {
    "STREAM_APP_RUN_KAFKA": "stream-app-kafka",
    "STREAM_APP_RUN_SCHEMA_REGISTRY": "stream-app-schema-registry",
    "STREAM_APP_RUN_DEBEZIUM": "stream-app-connect",
    "STREAM_APP_RUN_RALPH": "stream-app-ralph",
}


def _ours(names: Any) -> set[str]:
    return {name for name in names if name.startswith("stream-app")}


def _workloads(rendered: Rendered) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in rendered.k8s("deployments")
            if doc["kind"] in ("Deployment", "StatefulSet")}


def test_compose_has_the_workers_and_each_optional_service_exactly_when_on(rendered: Rendered) -> None:
    services = rendered.compose()["services"]
    replicas = rendered.value("STREAM_APP_WORKER_REPLICAS")
    expected = {f"stream-app-worker-{n}" for n in range(1, replicas + 1)}
    expected |= {name for key, name in OPTIONAL.items() if rendered.value(key)}
    assert _ours(services) == expected
    for name in expected:
        assert name not in rendered.compose("docker-compose.jobs.yml")["services"]
    # depends_on names only services that exist (an optional one that is off is not waited for).
    for name in expected:
        assert set(services[name].get("depends_on", [])) <= set(services), name
    # The job container (init tasks, backfill) waits for the services that are on, and only for those.
    job = rendered.compose("docker-compose.jobs.yml")["services"]["stream-app-job"]
    assert set(job["depends_on"]) == expected & {"stream-app-kafka", "stream-app-schema-registry",
                                                 "stream-app-connect"}


def test_both_configurations_were_really_rendered(all_on: Rendered, all_off: Rendered) -> None:
    assert _ours(all_on.compose()["services"]) >= set(OPTIONAL.values())
    assert not _ours(all_off.compose()["services"]) & set(OPTIONAL.values())
    assert _ours(all_off.compose()["services"]) == {"stream-app-worker-1"}


def test_k8s_manifests_have_the_workers_and_each_optional_service_exactly_when_on(rendered: Rendered) -> None:
    on = {name for key, name in OPTIONAL.items() if rendered.value(key)}
    workloads = _workloads(rendered)
    assert _ours(workloads) == {"stream-app-worker"} | on
    worker = workloads["stream-app-worker"]
    assert worker["kind"] == "StatefulSet"
    assert worker["spec"]["replicas"] == rendered.value("STREAM_APP_WORKER_REPLICAS")
    # RocksDB state: one volume per worker pod, mounted at the worker's data directory.
    claim = worker["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
    mounts = worker["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": claim, "mountPath": rendered.worker_env()["STREAM_APP_DATA_DIR"]} in mounts
    services = {doc["metadata"]["name"]: doc for doc in rendered.k8s("services")}
    assert _ours(services) == {"stream-app-worker"} | on
    assert services["stream-app-worker"]["spec"]["clusterIP"] == "None"  # per-pod names for table lookups
    assert worker["spec"]["serviceName"] == "stream-app-worker"
    jobs = {doc["metadata"]["name"] for doc in rendered.k8s("jobs")}
    assert "stream-app-job" in jobs


def test_k8s_volumes_exist_exactly_for_the_stateful_optional_services(rendered: Rendered) -> None:
    claims = [doc["metadata"]["name"] for doc in rendered.k8s("volumes") if doc["kind"] == "PersistentVolumeClaim"]
    ours = [name for name in claims if name.startswith("stream-app")]
    expected = {name for key, name in OPTIONAL.items() if rendered.value(key)} & {"stream-app-kafka",
                                                                                   "stream-app-ralph"}
    assert sorted(ours) == sorted(expected)
    # Every claim a workload names is declared, once.
    assert len(claims) == len(set(claims))
    for name, doc in _workloads(rendered).items():
        for volume in doc["spec"]["template"]["spec"].get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, name


def _images(rendered: Rendered) -> list[str]:
    images = [svc["image"] for name, svc in rendered.compose()["services"].items() if name.startswith("stream-app")]
    images += [svc["image"] for name, svc in rendered.compose("docker-compose.jobs.yml")["services"].items()
               if name.startswith("stream-app")]
    for doc in rendered.k8s_all():
        if doc["metadata"]["name"].startswith("stream-app") and doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            images += [c["image"] for c in doc["spec"]["template"]["spec"]["containers"]]
    return images


def test_every_image_comes_from_the_plugins_one_list_with_a_pinned_tag(rendered: Rendered) -> None:
    config = rendered.config()
    listed = {key: value for key, value in config.items() if key.startswith("STREAM_APP_DOCKER_IMAGE")}
    assert set(listed) == {"STREAM_APP_DOCKER_IMAGE", "STREAM_APP_DOCKER_IMAGE_PYTHON", "STREAM_APP_DOCKER_IMAGE_KAFKA",
                           "STREAM_APP_DOCKER_IMAGE_SCHEMA_REGISTRY", "STREAM_APP_DOCKER_IMAGE_CONNECT",
                           "STREAM_APP_DOCKER_IMAGE_RALPH"}
    images = _images(rendered)
    assert images and set(images) <= set(listed.values())
    for image in listed.values():
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest", image
    dockerfile = (rendered.env / "plugins" / "stream-app" / "build" / "stream-app" / "Dockerfile").read_text()
    assert f"FROM {listed['STREAM_APP_DOCKER_IMAGE_PYTHON']}\n" in dockerfile


def test_every_port_and_volume_is_declared_once(rendered: Rendered) -> None:
    compose = rendered.compose()
    ours_paths: list[str] = []
    core_paths: set[str] = set()
    host_ports: list[str] = []
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("../../data/") and name != "permissions":
                (ours_paths.append(source) if name.startswith("stream-app") else core_paths.add(source))
        host_ports += [str(port).rsplit(":", 1)[0] for port in service.get("ports", []) if ":" in str(port)]
    # Each data directory of ours belongs to one service (a worker's RocksDB to that worker alone), none of Tutor's.
    assert len(ours_paths) == len(set(ours_paths)), Counter(ours_paths)
    assert not set(ours_paths) & core_paths
    assert all(path.startswith("../../data/stream-app/") for path in ours_paths)
    assert len(host_ports) == len(set(host_ports)), Counter(host_ports)
    ours = {name: svc for name, svc in compose["services"].items() if name.startswith("stream-app")}
    assert not any("ports" in svc for svc in ours.values())  # nothing of ours is published on the host
    for doc in rendered.k8s("services"):
        ports = [p["port"] for p in doc["spec"]["ports"]]
        assert len(ports) == len(set(ports)), doc["metadata"]["name"]
    names = [(doc["kind"], doc["metadata"]["name"]) for doc in rendered.k8s_all()]
    assert len(names) == len(set(names)), Counter(names)


@pytest.mark.parametrize("replicas", [1, 3])
def test_each_worker_has_its_own_web_host_and_data_directory(rendered: Rendered, replicas: int,
                                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.tutor.harness import render

    again = render(tmp_path_factory.mktemp("replicas"), {"STREAM_APP_WORKER_REPLICAS": replicas})
    services = again.compose()["services"]
    workers = sorted(name for name in services if name.startswith("stream-app-worker-"))
    assert workers == [f"stream-app-worker-{n}" for n in range(1, replicas + 1)]
    for name in workers:
        assert services[name]["environment"]["STREAM_APP_WEB_HOST"] == name
        assert f"../../data/stream-app/{name.removeprefix('stream-app-')}:/data:z" in services[name]["volumes"]
        assert services[name]["expose"] == [str(again.value("STREAM_APP_WEB_PORT"))]
    permissions = (again.env / "apps" / "permissions" / "setowners.sh").read_text()
    for name in workers:
        assert f"/mounts/stream-app/{name.removeprefix('stream-app-')}" in permissions


@pytest.mark.parametrize("switch", sorted(OPTIONAL))
def test_one_switch_on_runs_exactly_that_service(switch: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.tutor.harness import render

    rendered = render(tmp_path_factory.mktemp("one-switch"), {key: key == switch for key in OPTIONAL})
    assert _ours(rendered.compose()["services"]) == {"stream-app-worker-1", OPTIONAL[switch]}
    assert _ours(_workloads(rendered)) == {"stream-app-worker", OPTIONAL[switch]}
    assert _ours(doc["metadata"]["name"] for doc in rendered.k8s("services")) == {"stream-app-worker",
                                                                                   OPTIONAL[switch]}


def test_the_kraft_cluster_id_is_a_base64_uuid_kept_in_the_configuration(all_on: Rendered) -> None:
    import base64

    cluster_id = all_on.compose()["services"]["stream-app-kafka"]["environment"]["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16  # what Kafka's Uuid.fromString accepts
    assert (all_on.root / "config.yml").read_text().count(cluster_id) == 1  # generated once, then kept
    k8s = _workloads(all_on)["stream-app-kafka"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "CLUSTER_ID", "value": cluster_id} in k8s


def test_the_worker_image_installs_the_configured_stream_app(all_on: Rendered,
                                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.tutor.harness import render

    path = Path("plugins") / "stream-app" / "build" / "stream-app" / "Dockerfile"
    default = (all_on.env / path).read_text()
    assert f'RUN pip install "stream-app=={all_on.value("STREAM_APP_VERSION")}"' in default
    assert "apt-get" not in default
    spec = "stream-app @ git+https://git.example.org/you/stream_app.git@v0.1.0"
    git = (render(tmp_path_factory.mktemp("git-spec"), {"STREAM_APP_PIP_SPEC": spec}).env / path).read_text()
    assert f'RUN pip install "{spec}"' in git
    assert "apt-get install -y --no-install-recommends git" in git
    assert 'CMD ["stream-app", "worker", "-l", "info"]' in git


def test_each_k8s_service_selects_the_pods_of_one_workload(rendered: Rendered) -> None:
    workloads = _workloads(rendered)
    for name, doc in workloads.items():
        if name.startswith("stream-app"):
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
    for service in rendered.k8s("services"):
        name = service["metadata"]["name"]
        if not name.startswith("stream-app"):
            continue
        selected = [w for w, doc in workloads.items()
                    if service["spec"]["selector"].items() <= doc["spec"]["template"]["metadata"]["labels"].items()]
        assert selected == [name], (name, selected)
        ports = {p["containerPort"] for c in workloads[name]["spec"]["template"]["spec"]["containers"]
                 for p in c.get("ports", [])}
        assert {p["port"] for p in service["spec"]["ports"]} <= ports, name
