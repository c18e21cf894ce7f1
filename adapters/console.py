"""The console adapter: the coach in a terminal or behind a pipe, with no token and no server.

Choices print as `[N] label`; the person answers with the number, the label, free text or a
command. Output is flushed after every reply so a program driving it through a pipe sees
each reply as soon as it is committed.

Input from a terminal or a pipe is read by the event loop itself (no worker thread blocked
in readline), so Ctrl-C stops the chat at once. Bytes that are not valid in the input's
encoding become U+FFFD instead of stopping the chat.

Check-ins the person asked for are printed between prompts when they fall due while the chat
runs (adapters/checkin_loop.py, this person's alone); a picture prints as the words it
carries.

A store that is busy or full costs one line, not the chat: that line is reported as not
saved, with the step that still stands, and the person sends it again. Only a store that
cannot be used at all (not even for the greeting) stops the chat, as StoreUnusable.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import io
import logging
import os
import sqlite3
import stat
from collections.abc import AsyncIterator
from typing import TextIO

from adapters.checkin_loop import CheckinLoop, Delivered
from bot.messages import Choice, Incoming, Reply, UserKey
from bot.pipeline import Coach, valid_unicode
from bot.store.base import StoreUnavailable

log = logging.getLogger("coach.console")

PROMPT = "> "
READ_SIZE = 65536
# A choice number is a few digits at most; int() refuses more than 4300 of them.
MAX_DIGITS = 9
# Failures that cost the line in hand only: sending it again may work (a lock held past the
# busy timeout, a full disk). The core returns them as `saved=False` replies; a store that
# raises them instead is treated the same here.
STORE_BUSY_OR_FULL = (StoreUnavailable, sqlite3.OperationalError)


class StoreUnusable(RuntimeError):
    """The store failed before the chat could begin: `coach chat` exits with the store's
    code, in one line, instead of greeting someone whose every message would be lost."""


def choice_number(typed: str, count: int) -> int | None:
    """The choice (1..count) that `typed` picks, or None when it is text.

    Any decimal digits count, as int() reads them: ASCII, full-width (`２`) and other
    scripts' (`٢`), since that is what a phone keyboard in those scripts types. Characters
    that are digits only in name (`²`, `①`, `½`: isdigit() accepts some, int() none) are
    text, as is anything that is not a number of a choice on screen."""
    if not typed.isdecimal() or len(typed) > MAX_DIGITS:
        return None
    number = int(typed)
    return number if 1 <= number <= count else None


def input_missing(source: TextIO | None) -> bool:
    """Whether there is nothing to chat with: stdin closed (`<&-`) or /dev/null, which is
    what `docker run` without `-i` gives. A pipe or a file, even an empty one, is input."""
    if source is None:
        return True
    try:
        mode = os.fstat(source.fileno())
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return False  # no descriptor (a StringIO): text handed in directly
    except OSError:
        return True  # the descriptor is closed
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    return stat.S_ISCHR(mode.st_mode) and mode.st_rdev == null.st_rdev


class ConsoleChat:
    """One person's chat on a text stream; `run` drives it from lines, `answer` takes one."""

    def __init__(self, coach: Coach, user: str, out: TextIO, language: str | None = None
                 ) -> None:
        """`language` (`coach chat --lang es`): spoken from the first line on, as if the
        person had sent `/language es` first."""
        self.coach = coach
        self.language = language
        self.user = UserKey("console", valid_unicode(user))
        self.out = out
        self.choices: list[Choice] = []
        self._stopping = asyncio.Event()
        self._turn = asyncio.Lock()  # a check-in never prints into a reply being shown
        self.checkins = CheckinLoop(coach, self.user.platform, self._checkin, only=self.user)

    def stop(self) -> None:
        """End the chat (SIGTERM): no more lines are read, and a reply being committed is
        committed and shown first, so the store closes with nothing half done."""
        self._stopping.set()

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    def show(self, reply: Reply) -> None:
        if reply.duplicate:
            return
        lines: list[str] = []
        for part in reply.parts:
            lines += [part, ""]
        for attachment in reply.attachments:
            if attachment.picture and attachment.text:
                lines += [attachment.text, ""]
        for number, choice in enumerate(reply.choices, start=1):
            lines.append(f"  [{number}] {choice.label}")
        if reply.choices:
            lines.append("")
        self.choices = list(reply.choices)
        self.out.write("\n".join(lines) + PROMPT)
        self.out.flush()

    def incoming(self, line: str) -> Incoming:
        number = choice_number(line.strip(), len(self.choices))
        if number is not None:
            return Incoming(self.user, button=self.choices[number - 1].id)
        return Incoming(self.user, text=line)

    async def answer(self, line: str) -> Reply:
        """Handle one typed line and show the reply. A busy or full store costs this line
        only: it is reported as not saved and the buttons on screen stay valid."""
        async with self._turn:
            return await self._answer(line)

    async def _answer(self, line: str) -> Reply:
        try:
            reply = await self.coach.handle(self.incoming(line))
        except STORE_BUSY_OR_FULL as error:
            log.warning("event=store_unavailable reason=%s user=%s", _reason(error),
                        self.user.key)
            reply = Reply(parts=[self.coach.texts.get("not_saved")], choices=self.choices,
                          saved=False)
        self.show(reply)
        return reply

    async def run(self, lines: TextIO | None) -> int:
        """Greet, then answer each line until the input ends or stop() is called. A store
        that cannot keep even the greeting raises StoreUnusable: nothing typed would last."""
        try:
            if self.language:
                greeting = await self.coach.handle(Incoming(
                    self.user, text=f"/language {self.language}", language=self.language))
            else:
                greeting = await self.coach.open(Incoming(self.user))
        except STORE_BUSY_OR_FULL as error:
            raise StoreUnusable(_reason(error)) from error
        if not greeting.saved:
            raise StoreUnusable("busy or full")
        self.show(greeting)
        self.checkins.start()
        try:
            async for line in read_lines(lines, self._stopping):
                await self.answer(line.rstrip("\r\n"))
        finally:
            await self.checkins.stop()
        self.out.write("\n")
        self.out.flush()
        return 0


    async def _checkin(self, user: UserKey, reply: Reply) -> Delivered:
        """A check-in due while the chat runs: printed on a line of its own, then the prompt
        again; its buttons are the ones a number picks now."""
        async with self._turn:
            self.out.write("\n")
            self.show(reply)
        return Delivered.SENT


def _reason(error: Exception) -> str:
    """A few words on a store failure, for logs and the one-line error; never user text."""
    if isinstance(error, StoreUnavailable):
        return error.reason
    return str(error) or type(error).__name__  # SQLite's own words: "database is locked"


async def read_lines(source: TextIO | None,
                     stop: asyncio.Event | None = None) -> AsyncIterator[str]:
    """Lines of `source` as they arrive, until it ends or `stop` is set. A terminal or pipe
    is watched by the event loop; anything else (a file, /dev/null, a StringIO) never blocks
    for long and is read directly."""
    if source is None:
        return
    if stop is None:
        stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    fd = _watchable_fd(source)
    if fd is not None:
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

        try:
            loop.add_reader(fd, readable)
        except (PermissionError, ValueError):  # a device epoll refuses: always readable
            fd = None
    if fd is None:
        _replace_bad_bytes(source)
        while not stop.is_set() and (line := source.readline()):
            yield line
            await asyncio.sleep(0)  # let a stop requested meanwhile be seen
        return
    stopper = asyncio.ensure_future(stop.wait())
    stopper.add_done_callback(lambda _: queue.put_nowait(None))
    try:
        while (line := await queue.get()) is not None and not stop.is_set():
            yield line
    finally:
        stopper.cancel()
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
