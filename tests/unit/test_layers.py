"""The import graph and the exception tree hold as drawn: the pure layer imports nothing above it."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import stream_app
from stream_app.errors import StreamAppError

PACKAGE = Path(stream_app.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_transforms_import_nothing_of_stream_app_outside_themselves() -> None:
    outside = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in (PACKAGE / "transforms").rglob("*.py")
        for name in _imports(path)
        if (name == "stream_app" or name.startswith("stream_app.")) and not name.startswith("stream_app.transforms")
    }
    assert outside == set()


def test_settings_and_the_app_know_nothing_of_tables_agents_or_delivery() -> None:
    for module in ("settings.py", "application.py"):
        for name in _imports(PACKAGE / module):
            above = name.startswith(("stream_app.tables", "stream_app.agents", "stream_app.delivery"))
            assert not above, (module, name)


def test_every_exception_class_descends_from_stream_app_error() -> None:
    # Modules that need the worker's environment (Faust agents, the worker) are left out: they define no errors.
    skip = ("stream_app.agents", "stream_app.worker", "stream_app.web", "stream_app.application", "stream_app.__main__",
            "stream_app.devstack.ralph_server")  # the last runs only inside Ralph's own virtualenv
    strays = []
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="stream_app."):
        if info.name.startswith(skip):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__
                    and not issubclass(obj, StreamAppError)):
                strays.append(f"{info.name}.{name}")
    assert strays == []
