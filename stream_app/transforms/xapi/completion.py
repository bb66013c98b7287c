"""xAPI transformers: completion events (being written)."""
