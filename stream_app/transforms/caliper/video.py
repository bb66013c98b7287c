"""Caliper transformers: video events (being written)."""
