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
