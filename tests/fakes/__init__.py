"""In-process fakes of the chat platforms' HTTP APIs, so adapters are tested against real clients.

Each fake is a small aiohttp server on 127.0.0.1 that answers like the real service closely enough
for the real client library (python-telegram-bot, later discord.py) to run unmodified against it.
See ``tests/fakes/telegram_api.py`` for the pattern the other fakes follow.
"""
