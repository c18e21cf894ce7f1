"""The console adapter: the coach in a terminal or behind a pipe, with no token and no server.

Choices print as `[N] label`; the person answers with the number, the label, free text or a
command. Output is flushed after every reply so a program driving it through a pipe sees
each reply as soon as it is committed.
"""

from __future__ import annotations

import asyncio
from typing import TextIO

from bot.messages import Choice, Incoming, Reply, UserKey
from bot.pipeline import Coach

PROMPT = "> "


class ConsoleChat:
    def __init__(self, coach: Coach, user: str, out: TextIO) -> None:
        self.coach = coach
        self.user = UserKey("console", user)
        self.out = out
        self.choices: list[Choice] = []

    def show(self, reply: Reply) -> None:
        if reply.duplicate:
            return
        lines: list[str] = []
        for part in reply.parts:
            lines += [part, ""]
        for number, choice in enumerate(reply.choices, start=1):
            lines.append(f"  [{number}] {choice.label}")
        if reply.choices:
            lines.append("")
        self.choices = list(reply.choices)
        self.out.write("\n".join(lines) + PROMPT)
        self.out.flush()

    def incoming(self, line: str) -> Incoming:
        typed = line.strip()
        if typed.isdigit() and 1 <= int(typed) <= len(self.choices):
            return Incoming(self.user, button=self.choices[int(typed) - 1].id)
        return Incoming(self.user, text=line)

    async def run(self, lines: TextIO) -> int:
        self.show(await self.coach.open(Incoming(self.user)))
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, lines.readline)
            if not line:
                self.out.write("\n")
                self.out.flush()
                return 0
            self.show(await self.coach.handle(self.incoming(line.rstrip("\r\n"))))
