"""What the check-in tests share: a simulated clock, and a person asking for a check-in
through the shipped flows (the way people do: /checkins, the plan, their commitments)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.conftest import Chat

LONDON = ZoneInfo("Europe/London")
# Monday 10 March 2025, 10:00 in London (GMT, before the clocks change on 30 March).
MONDAY_10AM = datetime(2025, 3, 10, 10, 0, tzinfo=LONDON).timestamp()
HOUR, DAY = 3600.0, 86400.0
# From /checkins: a check-in after the talk, tomorrow (Tuesday 11 March) at 18:00 in London.
TALK_STEPS = ("Check in after my talk", "Yes, pick a time", "Tomorrow", "18:00", "UK (London)")


class Clock:
    """The core's clock, moved by the test."""

    def __init__(self, now: float = MONDAY_10AM) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def london(day: int, hour: int, minute: int = 0) -> float:
    """A moment in March 2025, London time."""
    return datetime(2025, 3, day, hour, minute, tzinfo=LONDON).timestamp()


async def adult(chat: Chat) -> None:
    await chat.send("/start")
    await chat.press("Yes, I'm 18 or older")


async def talk_checkin(chat: Chat, day: str = "Tomorrow", at: str = "18:00",
                       zone: str = "UK (London)") -> str:
    """An adult asks, from /checkins, to be asked how the talk went; the confirmation."""
    await adult(chat)
    await chat.send("/checkins")
    await chat.press("Check in after my talk")
    await chat.press("Yes, pick a time")
    await chat.press(day)
    reply = await chat.press(at) if at in chat.labels else await chat.send(at)
    if zone in chat.labels:
        reply = await chat.press(zone)
    return reply.parts[0]


async def weekly_checkin(chat: Chat, day: str = "Sunday", at: str = "18:00") -> str:
    """An adult writes one commitment (step 3) and asks for the weekly check-in on it."""
    await adult(chat)
    await chat.send("/start transparency")
    await chat.press("Let's start")
    await chat.send("I will tell you when my ex gets in touch")
    for _ in range(3):
        await chat.press("Skip this one")
    await chat.press("Weekly check-ins on these")
    await chat.press("Yes, pick a day")
    await chat.press(day)
    await chat.press(at)
    reply = await chat.press("UK (London)")
    return reply.parts[0]
