"""Coaching helpers: deterministic feedback on how a message is likely to land."""
