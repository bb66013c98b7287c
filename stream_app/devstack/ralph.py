"""A real Ralph LRS (ralph-malph 5.1.0) for the development stack, tests and benchmarks, started on demand.

Ralph pins click, cachetools, httpx and others below the versions stream_app
uses, so it lives in its own virtualenv, `.venv-ralph` (created by
`make ralph`, which `make test` depends on), and runs as a separate process:
`ralph_server.py` under that venv's Python, uvicorn, the filesystem backend in
append mode, a fresh store directory and generated credentials.

    ralph = Ralph(tmp_path)          # or `with Ralph(tmp_path) as ralph:`
    ralph.start()                    # on a free port; waits until it answers
    router url: ralph.url            # http://127.0.0.1:P/xAPI/ (basic auth: ralph.username, ralph.password)
    ralph.stop(); ralph.start()      # "LRS down for a while": same port, same store
    ralph.statement_ids()            # every stored id, in write order

`statement_ids()` reads the store file: Ralph writes it before answering, so
it is exact and cheaper than paging `GET /xAPI/statements`. The store grows
and Ralph slows with it (each write scans it for duplicates): use one
instance per test. Its log is `ralph.log` in the given directory, shown in
the error when it does not start. `STREAM_APP_TEST_RALPH_PYTHON` overrides the
interpreter (another venv with `ralph-malph[cli,lrs]==5.1.0` and `requests`).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

import orjson

from stream_app.devstack.processes import free_port

REPO = Path(__file__).resolve().parents[2]
SERVER = Path(__file__).with_name("ralph_server.py")
STORE_FILE = "fs_lrs.jsonl"  # Ralph's FSLRSBackendSettings.DEFAULT_LRS_FILE


def ralph_available() -> bool:
    """Whether the Ralph virtualenv is installed (`make ralph`)."""
    try:
        return ralph_python().exists()
    except RuntimeError:
        return False


def ralph_python() -> Path:
    """The interpreter of the Ralph virtualenv; a clear error when it was not installed."""
    override = os.environ.get("STREAM_APP_TEST_RALPH_PYTHON")
    python = Path(override) if override else REPO / ".venv-ralph" / "bin" / "python"
    if not python.exists():
        raise RuntimeError(f"Ralph is not installed at {python}: run `make ralph`")
    return python


class Ralph:
    """One Ralph LRS process with its own store directory, port and credentials."""

    def __init__(self, root: Path, username: str = "stream-app", password: str | None = None) -> None:
        self.root = root
        self.data_dir = root / "store"
        self.username = username
        self.password = password or secrets.token_urlsafe(12)
        self.port = free_port()
        self.log = root / "ralph.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The xAPI base URL, as a router's `url`."""
        return f"http://127.0.0.1:{self.port}/xAPI/"

    def start(self, timeout: float = 60.0) -> None:
        """Start Ralph (again: same port, same store) and wait until its heartbeat answers."""
        if self._process is not None and self._process.poll() is None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        app_dir = self.root / "app"
        app_dir.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "RALPH_APP_DIR": str(app_dir),
            "RALPH_AUTH_FILE": str(app_dir / "auth.json"),
            "RALPH_RUNSERVER_BACKEND": "fs",
            "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(self.data_dir),
            "RALPH_HARNESS_CREDENTIALS": f"{self.username}:{self.password}",
            "SENTRY_DSN": "",
        }
        env.pop("VIRTUAL_ENV", None)
        # -I: the script's folder holds this harness, also named `ralph`, which must not shadow Ralph's package.
        command = [str(ralph_python()), "-I", str(SERVER), "127.0.0.1", str(self.port)]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Ralph exited ({self._process.returncode}):\n{self._tail()}")
            if self._answers():
                return
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"Ralph did not answer within {timeout} s:\n{self._tail()}")

    def stop(self) -> None:
        """Stop the process (the store stays)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def statement_ids(self) -> list[str]:
        """Every statement id in the store, in the order Ralph wrote them."""
        store = self.data_dir / STORE_FILE
        if not store.exists():
            return []
        return [orjson.loads(line)["id"] for line in store.read_bytes().splitlines() if line.strip()]

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/__heartbeat__", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def _tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Ralph:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


if __name__ == "__main__":  # manual use: python -m stream_app.devstack.ralph DIR
    with Ralph(Path(sys.argv[1])) as lrs:
        print(lrs.url, lrs.username, lrs.password, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
