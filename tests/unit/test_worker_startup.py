"""A worker refuses bad configuration before touching any agent: one line on stderr, exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BAD_REGEX = """\
routers:
  - name: campus-lrs
    format: xapi
    url: http://127.0.0.1:9/xAPI/
    match_params: {name: "^(problem"}
"""

BAD_FIELD = """\
routers:
  - name: caliper-lrs
    format: caliper
    url: http://127.0.0.1:9/caliper
    batch: {size: 0, max_wait: 1s}
"""


def _start(tmp_path: Path, entry: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_APP_")}
    full.update(env, STREAM_APP_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run([sys.executable, *entry], env=full, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("entry", [["-m", "stream_app", "worker"], ["-m", "faust", "-A", "stream_app", "worker"]])
@pytest.mark.parametrize(("text", "router", "field"), [(BAD_REGEX, "campus-lrs", "'match_params'.name"),
                                                        (BAD_FIELD, "caliper-lrs", "'batch.size'")])
def test_an_invalid_routers_file_is_one_line_and_exit_2(tmp_path: Path, entry: list[str], text: str,
                                                        router: str, field: str) -> None:
    routers = tmp_path / "routers.yaml"
    routers.write_text(text)
    done = _start(tmp_path, entry, STREAM_APP_ROUTERS_FILE=str(routers))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("stream_app: invalid routers file:")
    assert router in lines[0] and field in lines[0]


def test_a_router_of_a_disabled_format_is_refused_the_same_way(tmp_path: Path) -> None:
    routers = tmp_path / "routers.yaml"
    routers.write_text("routers:\n  - name: ct\n    format: caliper11\n    url: http://127.0.0.1:9/c\n")
    done = _start(tmp_path, ["-m", "stream_app", "worker"], STREAM_APP_ROUTERS_FILE=str(routers))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "stream_app: invalid routers file: router 'ct': field 'format' needs the caliper11 output, which "
        "STREAM_APP_FORMATS (xapi,caliper) does not enable"]


def test_an_invalid_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = _start(tmp_path, ["-m", "stream_app", "worker"], STREAM_APP_WEB_PORT="not-a-port")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stream_app: invalid setting: STREAM_APP_WEB_PORT"), done.stderr


def test_an_unknown_format_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = _start(tmp_path, ["-m", "stream_app", "worker"], STREAM_APP_FORMATS="xapi,tincan")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "stream_app: invalid setting: STREAM_APP_FORMATS: unknown format(s) ['tincan']; use xapi, caliper, caliper11"]
