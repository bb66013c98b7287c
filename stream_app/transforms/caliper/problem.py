"""Caliper transformers: problem events (being written)."""
