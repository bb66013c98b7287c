"""xAPI transformers: problem events (being written)."""
