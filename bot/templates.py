"""Fill a person's own words into template text: `I've noticed ${behavior}.`

A number placeholder followed by `word|words` picks the singular or the plural to agree with
it: `${answers} answer|answers` reads "1 answer", "3 answers".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from string import Template

_PLURAL = re.compile(
    r"(?<!\$)\$\{(?P<name>[_a-z][_a-z0-9]*)\}(?P<gap>\s+)(?P<one>[\w'’-]+)\|(?P<many>[\w'’-]+)",
    re.IGNORECASE)


class _Answers(dict[str, str]):
    """Slots for rendering; a slot not answered yet reads as a gentle placeholder."""

    def __init__(self, slots: Mapping[str, str], missing: str) -> None:
        super().__init__(slots)
        self.missing = missing

    def __missing__(self, key: str) -> str:
        return self.missing


@lru_cache(maxsize=4096)
def _compiled(text: str) -> Template:
    return Template(text)


def _is_one(value: object) -> bool:
    return str(value).strip() in ("1", "-1", "+1")


def plurals(text: str, values: Mapping[str, object]) -> str:
    """`${n} turn|turns` -> `${n} turn` when n is 1, else `${n} turns`; anything else as is."""
    if "|" not in text:
        return text

    def pick(match: re.Match[str]) -> str:
        word = match["one"] if _is_one(values.get(match["name"], "")) else match["many"]
        return f"${{{match['name']}}}{match['gap']}{word}"

    return _PLURAL.sub(pick, text)


def render(text: str, slots: Mapping[str, str], missing: str = "…") -> str:
    """Values are inserted as they are and never parsed again, so a `$` typed by a
    person stays a `$`."""
    if "$" not in text:
        return text
    return _compiled(plurals(text, slots)).safe_substitute(_Answers(slots, missing))


def fill(text: str, values: Mapping[str, object]) -> str:
    """The program's own values (counts, titles) into a message, plurals agreeing."""
    if "$" not in text:
        return text
    return Template(plurals(text, values)).safe_substitute(
        {k: str(v) for k, v in values.items()})


def placeholders(text: str) -> tuple[set[str], list[str]]:
    """The names a template fills, and placeholder mistakes such as a lone `$`."""
    names: set[str] = set()
    invalid: list[str] = []
    for match in Template.pattern.finditer(text):
        name = match.group("named") or match.group("braced")
        if name:
            names.add(name)
        elif match.group("invalid") is not None:
            start = match.start("invalid") - 1  # from the "$" itself
            invalid.append(text[start : start + 12])
    return names, invalid
