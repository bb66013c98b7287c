"""xAPI transformers: exam events (being written)."""
