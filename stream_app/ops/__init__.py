"""Operator tooling behind `stream-app load`, `replay`, `loadgen` and `lag`: plain functions, no click.

Each module does one job and can be driven from tests or scripts without the
CLI: `sources` finds and orders tracking-log files (local or any fsspec URL),
`load` produces their lines to the tracking topic, `offsets` plans and applies
consumer-group resets, `synth` makes synthetic events and CDC records, and
`lag` measures event-to-statement latency on the output topics.
"""
