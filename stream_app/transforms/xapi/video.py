"""xAPI transformers: video events (being written)."""
