"""The console adapter: the coach in a terminal or behind a pipe, with no token and no server.

Choices print as `[N] label`; the person answers with the number, the label, free text or a
command. Output is flushed after every reply so a program driving it through a pipe sees
each reply as soon as it is committed.

Input from a terminal or a pipe is read by the event loop itself (no worker thread blocked
in readline), so Ctrl-C stops the chat at once. Bytes that are not valid in the input's
encoding become U+FFFD instead of stopping the chat.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import io
import os
import stat
from collections.abc import AsyncIterator
from typing import TextIO

from bot.messages import Choice, Incoming, Reply, UserKey
from bot.pipeline import Coach, valid_unicode

PROMPT = "> "
READ_SIZE = 65536


class ConsoleChat:
    def __init__(self, coach: Coach, user: str, out: TextIO) -> None:
        self.coach = coach
        self.user = UserKey("console", valid_unicode(user))
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
        async for line in read_lines(lines):
            self.show(await self.coach.handle(self.incoming(line.rstrip("\r\n"))))
        self.out.write("\n")
        self.out.flush()
        return 0


async def read_lines(source: TextIO) -> AsyncIterator[str]:
    """Lines of `source` as they arrive. A terminal or pipe is watched by the event loop;
    anything else (a file, a StringIO) never blocks for long and is read directly."""
    fd = _watchable_fd(source)
    if fd is None:
        _replace_bad_bytes(source)
        while line := source.readline():
            yield line
        return
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    encoding = getattr(source, "encoding", None) or "utf-8"
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    pending = ""

    def readable() -> None:
        nonlocal pending
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        pending += decoder.decode(data, final=not data)
        *complete, pending = pending.split("\n")
        for line in complete:
            queue.put_nowait(line + "\n")
        if not data:
            loop.remove_reader(fd)
            if pending:
                queue.put_nowait(pending)
            queue.put_nowait(None)

    loop.add_reader(fd, readable)
    try:
        while (line := await queue.get()) is not None:
            yield line
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(fd)


def _watchable_fd(source: TextIO) -> int | None:
    try:
        fd = source.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None  # regular files never block, and epoll cannot watch them
    return fd


def _replace_bad_bytes(source: TextIO) -> None:
    reconfigure = getattr(source, "reconfigure", None)
    if reconfigure is not None:
        with contextlib.suppress(ValueError, io.UnsupportedOperation):
            reconfigure(errors="replace")
