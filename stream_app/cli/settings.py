"""`stream-app settings`: the configuration reference, generated from the Settings class.

`docs/configuration.md` is this command's output (`stream-app settings >
docs/configuration.md`); a test keeps the file equal to it, so the reference
cannot drift from the variables the worker really reads. Each row comes from a
field of `stream_app.settings.Settings`: its environment variable, its type or
choices, its default and its docstring.
"""

from __future__ import annotations

import typing
from enum import Enum

import click
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from stream_app.settings import Settings

_HEADER = """\
# Configuration reference

Every setting of the worker and of the `stream-app` commands is an environment
variable `STREAM_APP_<NAME>` (or a line of a `.env` file in the working
directory). Only `STREAM_APP_BROKER` and `STREAM_APP_SCHEMA_REGISTRY_URL` are
needed to run a worker. Durations take `500ms`, `30s`, `5m`, `2h`, `1d` or
seconds. `.env.example` lists the same variables with their defaults.

This page is generated from `stream_app/settings.py` by `stream-app settings`
(a test checks that it is up to date): change the code, then regenerate it.

| variable | type | default | what it does |
|---|---|---|---|
"""


def _type(field: FieldInfo) -> str:
    annotation = field.annotation
    if typing.get_origin(annotation) is typing.Literal:
        return " \\| ".join(f"`{choice}`" for choice in typing.get_args(annotation))
    if annotation is SecretStr:
        return "secret"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(f"`{member.value}`" for member in annotation)
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    value = field.default
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool):
        value = str(value).lower()
    if value == "":
        return "(empty)"
    return f"`{value}`"


def reference() -> str:
    """The Markdown reference of every setting, in the order of the Settings class."""
    rows = []
    for name, field in Settings.model_fields.items():
        if not field.description:
            raise ValueError(f"setting {name!r} has no docstring: every setting needs its description")
        description = " ".join(field.description.split()).replace("|", "\\|")
        rows.append(f"| `STREAM_APP_{name.upper()}` | {_type(field)} | {_default(field)} | {description} |")
    return _HEADER + "\n".join(rows) + "\n"


@click.command("settings")
def settings_command() -> None:
    """Print the configuration reference (Markdown) of every STREAM_APP_* setting."""
    click.echo(reference(), nl=False)
