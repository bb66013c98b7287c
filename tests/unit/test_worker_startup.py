"""A worker that cannot run with its configuration stops at start-up with one line, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_an_invalid_routers_file_stops_the_worker_with_one_line_naming_router_and_field(tmp_path: Path) -> None:
    routers = tmp_path / "routers.yaml"
    routers.write_text("routers:\n  - name: Campus LRS\n    format: xapi\n    url: https://lrs.example.org/xAPI/\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_APP_")}
    env.update(STREAM_APP_ROUTERS_FILE=str(routers), STREAM_APP_DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run([sys.executable, "-m", "stream_app", "worker", "-l", "info"], capture_output=True,
                            text=True, timeout=300, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert (result.stdout + result.stderr).splitlines() == [
        "stream_app: invalid routers file: router #1: field 'name' must match [a-z0-9-]+, got 'Campus LRS'"]
