"""Check-ins on Telegram: each due one sent to the person's private chat (their user id is
its chat id), through the outbox like any reply, so flood control and order hold.

Why apart: what a check-in needs of Telegram is only this, and what a 403 means: the person
blocked the bot, so their check-ins stop (adapters/checkin_loop.py).
"""

from __future__ import annotations

from telegram.error import Forbidden

from adapters.checkin_loop import CheckinLoop, Delivered
from adapters.telegram.sending import ReplySender
from bot.messages import Reply, UserKey
from bot.pipeline import Coach

PLATFORM = "telegram"


def checkin_loop(coach: Coach, sender: ReplySender) -> CheckinLoop:
    async def deliver(user: UserKey, reply: Reply) -> Delivered:
        errors = await sender.deliver_unasked(int(user.user_id), reply)
        if any(isinstance(error, Forbidden) for error in errors):
            return Delivered.BLOCKED
        return Delivered.FAILED if errors else Delivered.SENT

    return CheckinLoop(coach, PLATFORM, deliver)
