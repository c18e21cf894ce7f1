"""In-process fakes of the chat platforms' HTTP APIs, so adapters are tested against real clients.

Each fake is a small aiohttp server on 127.0.0.1 that answers like the real service closely enough
for the real client library (python-telegram-bot, discord.py) to run unmodified against it. What
they share (start and stop, a thread of their own, recorded calls, waits, holds) is
``tests/fakes/server.py``; ``telegram_api.py`` and ``discord_api.py`` add the platforms.
"""
