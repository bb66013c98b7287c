"""A real local HTTP endpoint for delivery tests: records every request and answers as a test scripts it.

It serves any path and method. Answers come, in this order of precedence,
from the queue given to `script(...)` (one reply per request, consumed in
order), from a `responder` callable (a small fake receiver, deciding from the
request), or from the default (200, empty body). A reply can carry headers
(`Retry-After`) and a delay (to make a client time out; the delay ends early
when the endpoint stops, so stopping never waits for it).

Two ways to run it:
- inside a test's event loop: `async with Endpoint() as ep: ...`;
- in a thread of its own, for synchronous tests whose workers run in other
  processes (the end-to-end "Caliper endpoint"): `with Endpoint().running() as ep: ...`.

`ep.url` is `http://127.0.0.1:PORT/` (add any path); `ep.requests` lists what
arrived; `ep.caliper_events()` flattens the `data` of every received envelope (alone or in a batch's array).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass(frozen=True)
class Recorded:
    """One request as received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """What to answer."""

    status: int = 200
    body: str | bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Responder = Callable[[Recorded], Reply]


class Endpoint:
    """A scripted, recording aiohttp server on 127.0.0.1 and a free port."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder = responder
        self.requests: list[Recorded] = []
        self._script: list[Reply] = []
        self._lock = threading.Lock()  # the thread mode records from the server thread
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def script(self, *replies: Reply | int) -> None:
        """Queue replies for the next requests (an int is a bare status)."""
        with self._lock:
            self._script.extend(Reply(r) if isinstance(r, int) else r for r in replies)

    def caliper_events(self) -> list[dict[str, Any]]:
        """Every Caliper event received, in arrival order (the `data` of each envelope; a batch is an array)."""
        with self._lock:
            bodies = [r.json() for r in self.requests if r.method == "POST"]
        envelopes = [env for body in bodies for env in (body if isinstance(body, list) else [body])]
        return [event for env in envelopes for event in env["data"]]

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Endpoint:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @contextmanager
    def running(self) -> Iterator[Endpoint]:
        """Serve from a thread with its own event loop (for synchronous tests)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=serve, name="test-endpoint", daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("test endpoint did not start")
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = Recorded(request.method, request.path, dict(request.query), dict(request.headers),
                            await request.read())
        with self._lock:
            self.requests.append(recorded)
            reply = self._script.pop(0) if self._script else None
        if reply is None:
            reply = self.responder(recorded) if self.responder else Reply()
        if reply.delay and self._stopping is not None:
            try:
                await asyncio.wait_for(self._stopping.wait(), reply.delay)
            except TimeoutError:
                pass
        body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        return web.Response(status=reply.status, body=body, headers=reply.headers)
