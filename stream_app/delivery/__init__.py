"""Delivery to learning record stores: routers (this module's `routers`), and later the delivery agents.

Only the routers file (its contract, validation and ERB's matching semantics)
exists so far; the per-router agents, retry chain and alerts are to come.
"""
