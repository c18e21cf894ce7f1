"""Who is speaking and where a message was typed: what the screen and the coach need besides
the words. "I'm sorry, but it was just chatting" is a non-apology from the partner who crossed
a line; "you also go through my phone" rehearsed is a deflection to coach, not control to fear.
Flows name a state's context (`context:` on a flow or a state); the role is the `role` slot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ROLES = ("hurt", "crossed")
CONTEXTS = (
    "chat",             # typed anywhere else: at a menu, over buttons
    "story",            # telling the coach what happened
    "rehearsal",        # a line planned for the partner
    "practice",         # a reply to the practice partner
    "reflection",       # private thoughts: why it happened, what it meant
    "boundary",         # an answer to a boundary or needs question
    "safety_question",  # the answer to "do you feel safe talking to your partner?"
)
ROLE_SLOT = "role"
# Lines addressed to the partner, not told about them.
SPOKEN_TO_PARTNER = frozenset({"rehearsal", "practice"})


@dataclass(frozen=True)
class Setting:
    role: str | None = None
    context: str = "chat"
    language: str = "en"  # the session's language (bot/i18n/), for the screen and the coach

    @property
    def spoken_to_partner(self) -> bool:
        return self.context in SPOKEN_TO_PARTNER


NO_SETTING = Setting()


def setting_for(slots: Mapping[str, str], context: str | None,
                language: str | None = None) -> Setting:
    role = slots.get(ROLE_SLOT)
    return Setting(role if role in ROLES else None, context if context in CONTEXTS else "chat",
                   language or "en")
