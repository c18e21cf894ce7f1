"""Conversation Coach core: platform-free flows, sessions and replies.

Nothing in this package knows about Telegram, Discord or the console; adapters translate.
"""
