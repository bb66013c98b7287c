"""xAPI transformers: forum events (being written)."""
