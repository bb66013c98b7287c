"""Delivery to learning record stores, Caliper endpoints and ClickHouse: everything but the Faust agents.

`routers` parses and validates the routers file (its contract, `${VAR}`
secrets, ERB's `match_params` semantics); `http` sends batches to an LRS or a
Caliper endpoint (repeats of an id sent once, refused batches split) and
`outcome` classifies each answer; `chain` moves what failed along a router's
retry topics to the dead-letter topic; `alerts` builds the digest and recovery
mails, which `mailer` sends. The agents that run them, one per router, are in
`stream_app.agents.delivery`; re-driving dead letters is operator tooling
(`stream_app.ops.redrive`).
"""
