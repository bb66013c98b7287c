"""xAPI transformers: enrollment events (being written)."""
