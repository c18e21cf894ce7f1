"""Whatever is typed or piped into the console, it answers every line and the session
survives: no input can stop the chat (`²` once did, through isdigit())."""

from __future__ import annotations

import asyncio
import io
import os
from typing import TextIO

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.console import ConsoleChat
from bot.flowlang.catalog import Catalog
from bot.messages import Choice, Incoming, Reply
from bot.pipeline import Coach
from bot.store.memory import MemoryStore

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# Digits of every kind, commands and line ends, so they are tried far more than by chance.
TRICKY = st.sampled_from(["1", "2", "3", "0", "²", "①", "½", "１", "٢", "\n", "\r\n", "\r",
                          "/", "/back", "/restart", "/resume", "/menu", "/help", " ", "\x00",
                          "\ufeff", "\u2028", "\x85", "\x1c"])
TEXT = st.lists(st.one_of(st.text(), TRICKY), max_size=12).map("".join)


class RecordingChat(ConsoleChat):
    """The real console, remembering every reply it showed."""

    def __init__(self, coach: Coach, user: str, out: TextIO) -> None:
        super().__init__(coach, user, out)
        self.replies: list[Reply] = []

    def show(self, reply: Reply) -> None:
        self.replies.append(reply)
        super().show(reply)


def _lines_in(data: str | bytes) -> int:
    """How many lines the console reads: split at line feeds, a last one without one."""
    pieces = data.split("\n" if isinstance(data, str) else b"\n")
    return len(pieces) - (pieces[-1] in ("", b""))


async def _talk(catalog: Catalog, source: TextIO, lines: int) -> None:
    coach = Coach(catalog, MemoryStore())
    chat = RecordingChat(coach, "fuzz", io.StringIO())
    assert await chat.run(source) == 0
    assert len(chat.replies) == 1 + lines, "one greeting, then one reply per line"
    for reply in chat.replies:
        assert reply.saved and (reply.parts or reply.choices), reply
    assert await coach.store.load(chat.user.key) is not None, "the session is still there"
    after = await chat.answer("/menu")
    assert after.saved and after.parts, "and the chat goes on"
    assert chat.out.getvalue().endswith("> ")  # type: ignore[attr-defined]


@FUZZ
@given(TEXT)
@example("²\n")
@example("1" * 5000 + "\n")
@example("\n\n\n")
def test_any_text_gets_a_reply_per_line(catalog: Catalog, text: str) -> None:
    asyncio.run(_talk(catalog, io.StringIO(text), _lines_in(text)))


@FUZZ
@given(st.lists(st.one_of(st.binary(max_size=64), TRICKY.map(str.encode)),
                max_size=24).map(b"".join))
@example(b"\xc2\xb2\n")
@example(b"\xff\xfe\xed\xa0\xbd\n1\n")
@example(b"\xef\xbc\x91")  # a full-width 1 without a line end
def test_any_bytes_through_a_pipe_get_a_reply_per_line(catalog: Catalog, data: bytes) -> None:
    """The pipe path: the event loop watches the descriptor and decodes what arrives."""
    read, write = os.pipe()
    os.write(write, data)  # far below a pipe's buffer: never blocks
    os.close(write)
    with open(read, encoding="utf-8", errors="replace") as source:
        asyncio.run(_talk(catalog, source, _lines_in(data)))


@FUZZ
@given(st.one_of(st.text(), TRICKY), st.integers(min_value=0, max_value=12))
def test_a_typed_line_is_a_choice_or_the_text_itself(line: str, count: int) -> None:
    chat = ConsoleChat(Coach.__new__(Coach), "fuzz", io.StringIO())
    chat.choices = [Choice(f"c{n}", f"Choice {n}") for n in range(count)]
    message = chat.incoming(line)
    assert isinstance(message, Incoming)
    if message.button is None:
        assert message.text == line
    else:
        assert message.button in {c.id for c in chat.choices}
        assert line.strip().isdecimal() and int(line.strip()) >= 1
