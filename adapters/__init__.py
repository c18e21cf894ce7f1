"""Adapters: translate platform events into the core's messages and its replies back."""
