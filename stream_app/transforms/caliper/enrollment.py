"""Caliper transformers: enrollment events (being written)."""
