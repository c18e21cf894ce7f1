"""Fill a person's own words into template text: `I've noticed ${behavior}.`"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from string import Template


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


def render(text: str, slots: Mapping[str, str], missing: str = "…") -> str:
    """Values are inserted as they are and never parsed again, so a `$` typed by a
    person stays a `$`."""
    if "$" not in text:
        return text
    return _compiled(text).safe_substitute(_Answers(slots, missing))


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
