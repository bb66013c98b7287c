"""Drive the real `tutor` (the `.venv-tutor` virtualenv, with the plugin installed from tutor-plugin/) in a temp root.

Tutor runs as a subprocess with `TUTOR_ROOT` and `TUTOR_PLUGINS_ROOT` in the
test's directory, so nothing outside it is read or written; it renders files
only (`tutor config save`) and never starts Docker. `render()` enables the
plugin and saves a configuration; the helpers read back what Tutor wrote.
`make tutor` installs the virtualenv; `STREAM_APP_TEST_TUTOR` points elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def tutor_bin() -> Path:
    """The `tutor` executable of the Tutor virtualenv; a clear error when it was not installed."""
    override = os.environ.get("STREAM_APP_TEST_TUTOR")
    path = Path(override) if override else REPO / ".venv-tutor" / "bin" / "tutor"
    if not path.exists():
        raise RuntimeError(f"Tutor is not installed at {path}: run `make tutor`")
    return path


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "TUTOR_ROOT": str(root), "TUTOR_PLUGINS_ROOT": str(root / "plugins")}


def run_tutor(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`tutor ARGS` in this root; fails the test with Tutor's output when it exits non-zero."""
    result = subprocess.run([str(tutor_bin()), *args], env=_env(root), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"tutor {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


# What `tutor` itself does before a command: core hooks, then the project root (which loads the enabled plugins).
_PRELUDE = ("import os; import tutor.commands.cli; from tutor import hooks; hooks.Actions.CORE_READY.do(); "
            "hooks.Actions.PROJECT_ROOT_READY.do(os.environ['TUTOR_ROOT'])\n")


def tutor_python(root: Path, code: str, stdin: str | None = None) -> str:
    """Run Python code with the Tutor virtualenv's interpreter (Tutor's API, plugins loaded) in this root."""
    python = tutor_bin().with_name("python")
    result = subprocess.run([str(python), "-c", _PRELUDE + code], input=stdin, env=_env(root), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, f"tutor python failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@dataclass
class Rendered:
    """A Tutor root after `tutor config save` with the plugin enabled."""

    root: Path

    @property
    def env(self) -> Path:
        return self.root / "env"

    @property
    def config_dir(self) -> Path:
        return self.env / "plugins" / "stream-app" / "apps" / "config"

    def compose(self, name: str = "docker-compose.yml") -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load((self.env / "local" / name).read_text())
        return data

    def k8s(self, name: str) -> list[dict[str, Any]]:
        return [doc for doc in yaml.safe_load_all((self.env / "k8s" / f"{name}.yml").read_text()) if doc]

    def k8s_all(self) -> list[dict[str, Any]]:
        return [doc for name in ("deployments", "services", "volumes", "jobs") for doc in self.k8s(name)]

    def worker_env(self) -> dict[str, str]:
        """The rendered worker.env as a mapping (comments and blank lines skipped)."""
        out: dict[str, str] = {}
        for line in (self.config_dir / "worker.env").read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                out[key.strip()] = value
        return out

    def value(self, key: str) -> Any:
        """`tutor config printvalue KEY`, parsed as YAML (as Tutor prints it)."""
        return yaml.safe_load(run_tutor(self.root, "config", "printvalue", key).stdout)

    def config(self) -> dict[str, Any]:
        """The full configuration (defaults included), through Tutor's own loader."""
        code = ("import json; from tutor import config; "
                "print(json.dumps(config.load_full(os.environ['TUTOR_ROOT']), default=str))")
        data: dict[str, Any] = json.loads(tutor_python(self.root, code))
        return data

    def render_str(self, text: str) -> str:
        """A template string rendered with this root's configuration, by Tutor's renderer."""
        code = ("import sys; from tutor import config, env; "
                "print(env.render_str(config.load_full(os.environ['TUTOR_ROOT']), sys.stdin.read()), end='')")
        return tutor_python(self.root, code, stdin=text)


def render(root: Path, settings: dict[str, Any]) -> Rendered:
    """Enable the plugin in a fresh root and `tutor config save` with these settings."""
    root.mkdir(parents=True, exist_ok=True)
    run_tutor(root, "plugins", "enable", "stream-app")
    args = ["config", "save"]
    for key, value in settings.items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    run_tutor(root, *args)
    return Rendered(root)
