"""Reading a command out of typed text: apart, so that features can read one (couple
mode's `/pair CODE`) without importing the stages that route it."""

from __future__ import annotations


def parse_command(text: str) -> tuple[str, str] | None:
    """`/start@CoachBot talk` -> ("start", "talk"); None when the text is no command."""
    if not text.startswith("/") or len(text) < 2:
        return None
    head, _, rest = text[1:].partition(" ")
    name = head.split("@", 1)[0].casefold()
    if not name or not all(ch.isalnum() or ch == "_" for ch in name):
        return None
    return name, rest.strip()
