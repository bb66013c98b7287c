"""Registries of transformers by event name, one per output format, refusing duplicates.

A transformer family module registers functions with `@XAPI.register("name", ...)`.
Registering a name twice raises, so a plugin can never silently replace a built-in
transformer (ERB's class registry overrides quietly). Operators' packages add
transformers through the `stream_app.transformers` entry-point group: each entry
point is a callable receiving the mapping of format name to `Registry`. They add
xAPI hooks (ERB's openedx-filters) through `stream_app.xapi_hooks`: each entry
point is an `XapiHooks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any

from stream_app.transforms.context import NO_HOOKS, Ctx, XapiHooks
from stream_app.transforms.errors import StreamAppError

Output = dict[str, Any] | list[dict[str, Any]]
Transformer = Callable[[Ctx], Output]

ENTRY_POINT_GROUP = "stream_app.transformers"
HOOKS_GROUP = "stream_app.xapi_hooks"


class DuplicateTransformer(StreamAppError, ValueError):
    """A second transformer was registered for an event name."""


class Registry:
    """Event name → transformer function, for one output format."""

    def __init__(self, fmt: str) -> None:
        self.format = fmt
        self._by_name: dict[str, Transformer] = {}

    def register(self, *names: str) -> Callable[[Transformer], Transformer]:
        """Decorator registering `fn` for every name given."""

        def decorator(fn: Transformer) -> Transformer:
            for name in names:
                self.add(name, fn)
            return fn

        return decorator

    def add(self, name: str, fn: Transformer) -> None:
        """Register one name; raises DuplicateTransformer if it is taken."""
        if name in self._by_name:
            existing = self._by_name[name]
            raise DuplicateTransformer(
                f"{self.format}: {name!r} is already handled by {existing.__module__}.{existing.__qualname__}"
            )
        self._by_name[name] = fn

    def get(self, name: str) -> Transformer | None:
        """The transformer for a name, or None."""
        return self._by_name.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._by_name))

    def __len__(self) -> int:
        return len(self._by_name)


def load_plugins(registries: Mapping[str, Registry]) -> list[str]:
    """Call every installed `stream_app.transformers` entry point; return their names."""
    loaded = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        register = ep.load()
        register(registries)
        loaded.append(ep.name)
    return loaded


def load_hooks() -> tuple[list[str], XapiHooks]:
    """Every installed `stream_app.xapi_hooks` entry point, combined in name order; their names."""
    names: list[str] = []
    hooks = NO_HOOKS
    for ep in sorted(entry_points(group=HOOKS_GROUP), key=lambda e: e.name):
        loaded = ep.load()
        if not isinstance(loaded, XapiHooks):
            raise TypeError(f"entry point {ep.name!r} of {HOOKS_GROUP}: expected an XapiHooks, got {type(loaded)!r}")
        hooks = hooks.then(loaded)
        names.append(ep.name)
    return names, hooks
