"""Check-ins on Discord: each due one sent as a DM (the DM channel opened by the person's
id), in the person's lane, like a reply to them, with its buttons.

Why apart: adapters/discord.py is the client and the events; this is the one thing a
check-in needs besides, and what Discord's 50007 ("Cannot send messages to this user")
means: they blocked the bot or closed their DMs, so their check-ins stop
(adapters/checkin_loop.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from adapters.checkin_loop import CheckinLoop, Delivered
from bot.messages import Reply, UserKey

if TYPE_CHECKING:
    from adapters.discord import DiscordBot

PLATFORM = "discord"
CANNOT_MESSAGE_USER = 50007
UNKNOWN_USER = 10013


def checkin_loop(bot: DiscordBot) -> CheckinLoop:
    async def deliver(user: UserKey, reply: Reply) -> Delivered:
        from adapters.discord import Delivery

        async with bot.lanes.hold(user.key):
            try:
                channel = await bot.client.create_dm(discord.Object(id=int(user.user_id)))
            except discord.HTTPException as error:
                if error.code in (CANNOT_MESSAGE_USER, UNKNOWN_USER):
                    return Delivered.BLOCKED
                return Delivered.FAILED
            delivery = Delivery(channel)
            await bot.deliver(reply, delivery)
        if delivery.failure == CANNOT_MESSAGE_USER:
            return Delivered.BLOCKED
        return Delivered.FAILED if delivery.failure is not None else Delivered.SENT

    return CheckinLoop(bot.coach, PLATFORM, deliver)
