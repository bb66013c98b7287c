"""Caliper transformers: navigation events (being written)."""
