"""Benchmark: CPU instructions per event (valgrind's callgrind), the transform cost without timing noise.

Wall-clock rates on a shared machine move by a third from one minute to the
next (CPU steal), which hides a 5% change. Instruction counts do not move: this
runs the transform benchmark's corpus under callgrind once per measurement —
setup only, the orjson baseline, xAPI, Caliper, and the worker's per-event
`process` for both formats — subtracts the setup and divides by the number of
events. The ratio is baseline instructions / measured instructions, the
instruction-count form of `benchmarks.transform`'s ratio. Needs `valgrind`.
Run:

    python -m benchmarks.instructions [--events N]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

MODES = ("setup", "baseline", "xapi", "caliper", "process")
LABELS = {
    "baseline": "baseline: orjson parse + serialise",
    "xapi": "xapi: parse + transform + serialise",
    "caliper": "caliper: parse + transform + serialise",
    "process": "worker `process`: xAPI + Caliper records of one event",
}


def child(mode: str, events: int) -> None:
    """Build the corpus and run one measurement (under callgrind, started by `main`)."""
    import orjson

    from benchmarks import corpus as corpus_module
    from stream_app.pipeline import build_engine, process_raw
    from stream_app.settings import Settings

    data = corpus_module.corpus(events)
    lookup = corpus_module.lookup()
    engine = build_engine(Settings())
    loads, dumps = orjson.loads, orjson.dumps
    if mode == "baseline":
        for raw in data:
            dumps(loads(raw))
    elif mode in ("xapi", "caliper"):
        for raw in data:
            for item in engine.run(mode, loads(raw), lookup).output:
                dumps(item)
    elif mode == "process":
        for raw in data:
            process_raw(raw, engine, lookup, ("xapi", "caliper"))


def count(mode: str, events: int) -> int:
    """Instructions of one child run."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m",
               "benchmarks.instructions", "--child", mode, "--events", str(events)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env={**os.environ})
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in callgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.events)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    totals = {mode: count(mode, args.events) for mode in MODES}
    per_event = {mode: (totals[mode] - totals["setup"]) / args.events for mode in MODES[1:]}
    print(f"{args.events:,} events of the transform corpus, callgrind instruction counts, setup subtracted.\n")
    print("| measurement | instructions per event | ratio to baseline |")
    print("|---|---:|---:|")
    for mode in MODES[1:]:
        ratio = "1.00 (baseline)" if mode == "baseline" else f"{per_event['baseline'] / per_event[mode]:.3f}"
        print(f"| {LABELS[mode]} | {per_event[mode]:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
