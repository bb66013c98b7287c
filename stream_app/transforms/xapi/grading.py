"""xAPI transformers: grading events (being written)."""
