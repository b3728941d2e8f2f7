"""Migration engine: inventory → sanitize/transform → plan → apply → verify, between artifacts on disk."""
