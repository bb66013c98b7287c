"""Benchmark: statements/s delivered into a real Ralph LRS through `Deliverer`, against Ralph's own ingest rate.

The baseline is a bare aiohttp client POSTing the very same batches (same
headers and auth, one batch in flight, as one delivery agent does); the
deliverer run sends them through `Deliverer.deliver`. Ralph's filesystem store
slows as it grows (each write scans it for duplicates), so every measurement
starts a fresh Ralph with an empty store and sends the same statements: the
rates are compared at equal store size. The ratio says what our delivery layer
costs on top of the LRS. Needs the Ralph virtualenv (`make ralph`).

The same run then sends, through the deliverer again, a workload of as many
records of which a share (`--repeated-ids`, default 0.3) repeats an id met
before: two thirds identical repeats (half of the same batch, half of the
previous one: what a crash replay makes), one third another body under that
id (what ERB's fixtures hold). Its rate (records settled per second) is
compared with the clean workload's; the target is at least 0.8. Run:

    python -m benchmarks.delivery [--statements N] [--batch B] [--repeat R] [--repeated-ids S]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from pydantic import SecretStr

from stream_app.delivery.http import Deliverer
from stream_app.delivery.routers import Auth, Router
from stream_app.devstack.ralph import Ralph
from tests.delivery.samples import statement

Batches = list[list[dict[str, Any]]]
Sender = Callable[[Ralph, Batches], Awaitable[None]]


def _router(ralph: Ralph, batch: int) -> Router:
    auth = Auth("basic", username=ralph.username, password=SecretStr(ralph.password))
    return Router(name="bench", format="xapi", url=ralph.url, auth=auth, batch_size=batch, timeout=60.0)


async def bare_client(ralph: Ralph, batches: Batches) -> None:
    """Ralph's own ingest rate: plain POSTs of each batch, failing loudly on any non-2xx."""
    headers = {"Content-Type": "application/json", "X-Experience-API-Version": "1.0.3",
               **_router(ralph, len(batches[0])).auth.header()}
    url = ralph.url.rstrip("/") + "/statements"
    async with aiohttp.ClientSession() as session:
        for batch in batches:
            async with session.post(url, data=orjson.dumps(batch), headers=headers) as response:
                await response.read()
                if response.status >= 300:
                    raise RuntimeError(f"bare client: HTTP {response.status}")


async def deliverer(ralph: Ralph, batches: Batches) -> None:
    """The same batches through `Deliverer.deliver`, one batch at a time."""
    sender = Deliverer(_router(ralph, len(batches[0])), sensor="http://lms.example.org")
    try:
        for batch in batches:
            outcomes = await sender.deliver(batch)
            if any(o.kind != "delivered" for o in outcomes):
                raise RuntimeError(f"deliverer: {sorted({o.reason for o in outcomes})}")
    finally:
        await sender.close()


def measure(send: Sender, batches: Batches, expected: int) -> float:
    """Records/s for one run on a fresh Ralph; checks that every distinct id was stored, once."""
    with tempfile.TemporaryDirectory(prefix="bench-ralph-") as tmp, Ralph(Path(tmp)) as ralph:
        started = time.perf_counter()
        asyncio.run(send(ralph, batches))
        elapsed = time.perf_counter() - started
        stored = ralph.statement_ids()
        if len(stored) != expected or len(set(stored)) != expected:
            raise RuntimeError(f"{send.__name__}: {len(stored)} stored ({len(set(stored))} ids) of {expected}")
        return sum(len(b) for b in batches) / elapsed


def with_repeats(items: list[dict[str, Any]], batch: int, share: float) -> Batches:
    """Batches of the same size as the clean ones, `share` of whose records repeat an id met before."""
    per_batch = round(batch * share)
    fresh = iter(items)
    batches: Batches = []
    previous: list[dict[str, Any]] = []
    while True:
        new = [s for _, s in zip(range(batch - per_batch), fresh, strict=False)]
        if not new:
            return batches
        previous = previous or new
        repeats = []
        for k in range(per_batch):
            if k % 3 == 0:  # another body under an id of this batch
                repeats.append({**new[k % len(new)], "result": {"completion": True}})
            elif k % 3 == 1:  # an identical repeat within the batch
                repeats.append(dict(new[(k * 7) % len(new)]))
            else:  # an identical repeat of the previous batch (stored already)
                repeats.append(dict(previous[(k * 5) % len(previous)]))
        batches.append([s for pair in zip(new, repeats, strict=False) for s in pair] + new[len(repeats):])
        previous = new  # the first bodies, which the LRS stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statements", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best rate is kept")
    parser.add_argument("--repeated-ids", type=float, default=0.3, help="share of records repeating an id")
    args = parser.parse_args()
    items = [statement(i, tag="bench") for i in range(args.statements)]
    batches = [items[i:i + args.batch] for i in range(0, len(items), args.batch)]
    distinct = round(args.statements * (1 - args.repeated_ids))
    repeated = with_repeats(items[:distinct], args.batch, args.repeated_ids)
    label = f"Deliverer, {args.repeated_ids:.0%} ids repeated"
    best: dict[str, float] = {"bare aiohttp client": 0.0, "Deliverer": 0.0, label: 0.0}
    for _ in range(args.repeat):  # alternate, so a noisy neighbour hurts all alike
        best["bare aiohttp client"] = max(best["bare aiohttp client"], measure(bare_client, batches, len(items)))
        best["Deliverer"] = max(best["Deliverer"], measure(deliverer, batches, len(items)))
        best[label] = max(best[label], measure(deliverer, repeated, len({s["id"] for b in repeated for s in b})))
    print(f"{args.statements} statements in batches of {args.batch} into Ralph 5.1.0 (fs backend, empty store "
          f"at start), best of {args.repeat}")
    for name, rate in best.items():
        print(f"  {name:<34} {rate:8.0f} records/s")
    print(f"  ratio Deliverer / bare client: {best['Deliverer'] / best['bare aiohttp client']:.2f}")
    ratio = best[label] / best["Deliverer"]
    print(f"  ratio {args.repeated_ids:.0%} repeated ids / clean (target >= 0.8): {ratio:.2f}")


if __name__ == "__main__":
    main()
