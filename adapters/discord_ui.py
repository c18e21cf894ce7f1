"""How a Reply looks on Discord: message texts under 2,000 characters, and choices as
persistent buttons (or select menus for long lists).

Kept apart from the client wiring in adapters/discord.py so the layout rules can be tested
without a connection. Nothing here decides what is said: the words come from the core; the
only strings of our own are the select placeholder and the DM link label (adapter chrome).

Persistence: every button's custom id is ``coach:<choice id>`` and every select menu's
``coach-menu:<n>`` (the picked value is the choice id). Both are ``DynamicItem`` classes that
the client registers at start-up, so a press on any message, sent before or after a restart,
is routed by its custom id alone; discord.py keeps no per-message state for them. The core
checks the choice id against the person's current step, so a stale or forged id only earns a
short notice and the current step again.

Forged ids of any other shape: discord.py drops a component interaction that no item claims,
unacknowledged ("This interaction failed"). `routed` says which interactions the two items
will take; the client hands every other one to the core as `FORGED_CHOICE`, so it gets the
same notice and the current step.
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import discord
from discord import ui
from discord.utils import escape_markdown

from adapters.text_split import pack as pack_parts
from adapters.text_split import split_text
from bot.messages import Attachment, Choice, Reply

log = logging.getLogger("coach.discord")

MAX_CONTENT = 2000  # characters per message; counted in UTF-16 units to be safe either way
MAX_BUTTON_LABEL = 80
MAX_OPTION_LABEL = 100
MAX_CUSTOM_ID = 100
MAX_OPTION_VALUE = 100
PER_ROW = 5
MAX_ROWS = 5
MAX_BUTTONS = PER_ROW * MAX_ROWS
MAX_OPTIONS = 25
SHORT_LABEL = 20  # when every label is this short, buttons share rows
BUTTON_PREFIX = "coach:"
MENU_PREFIX = "coach-menu:"
SELECT_PLACEHOLDER = "Choose…"
BUTTON_TEMPLATE = re.compile(r"coach:(?P<choice>.{1,94})")
MENU_TEMPLATE = re.compile(r"coach-menu:(?P<n>[0-9]{1,2})")
TEMPLATES = {discord.ComponentType.button.value: BUTTON_TEMPLATE,
             discord.ComponentType.select.value: MENU_TEMPLATE}
# What a component interaction of no known shape is to the core: an id it never hands out
# (its ids are `<step>.<n>`, `<step>.s` and `delete.*`), so it answers "that step has passed"
# with the current step, exactly as for a well-shaped forged id.
FORGED_CHOICE = "forged"

# Called with (interaction, choice id) when a coach button or menu is used.
PressHandler = Callable[[discord.Interaction[Any], str], Awaitable[None]]


# -- text ---------------------------------------------------------------------------------------


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, ending in "…" when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def split_content(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """Chunks under Discord's message limit, cut at natural boundaries."""
    return split_text(text, limit)


def pack(parts: Sequence[str], limit: int = MAX_CONTENT) -> list[str]:
    return pack_parts(parts, limit)


def plain(text: str) -> str:
    """Show text as written: markdown characters in flow texts or in a person's own answers
    (echoed in summaries) are escaped, so nobody's words turn into formatting or links."""
    return escape_markdown(text)


@dataclass(frozen=True)
class DiscordMessage:
    """One message to send; the last one of a reply carries the files and the choices."""

    content: str
    choices: tuple[Choice, ...] = ()
    attachments: tuple[Attachment, ...] = ()


def discord_messages(reply: Reply) -> list[DiscordMessage]:
    """The messages for one Reply, in order."""
    texts = pack([plain(part) for part in reply.parts])
    if not texts and (reply.choices or reply.attachments):
        log.error("event=controls_without_text")
        texts = [""]
    items = [DiscordMessage(text) for text in texts]
    if items:
        items[-1] = DiscordMessage(items[-1].content, tuple(reply.choices),
                                   tuple(reply.attachments))
    return items


def files(attachments: Sequence[Attachment]) -> list[discord.File]:
    """discord.File objects are single-use streams: build them right before each send."""
    return [discord.File(io.BytesIO(a.data), filename=a.filename) for a in attachments]


# -- choices ------------------------------------------------------------------------------------


def usable(choices: Sequence[Choice], limit: int) -> list[Choice]:
    """Choices whose id fits in a custom id (or option value); others are logged, dropped."""
    kept = []
    for choice in choices:
        if 1 <= len(choice.id) <= limit:
            kept.append(choice)
        else:
            log.error("event=choice_dropped reason=id_length chars=%d", len(choice.id))
    return kept


def rows_for(count: int, labels: Sequence[str]) -> int:
    """Buttons per row: five when every label is short, else as few as fit in five rows."""
    if all(len(label) <= SHORT_LABEL for label in labels):
        return PER_ROW
    return max(1, math.ceil(count / MAX_ROWS))


def routed(interaction: discord.Interaction[Any]) -> bool:
    """True when discord.py will hand this component interaction to ChoiceButton or
    ChoiceMenu: a custom id of their shape, on a component of their kind, on the message.
    Mirrors the checks discord.py makes before it calls a DynamicItem, because whatever it
    drops nobody acknowledges."""
    data: dict[str, Any] = dict(interaction.data or {})
    custom_id, kind = str(data.get("custom_id", "")), data.get("component_type")
    template = TEMPLATES.get(kind) if isinstance(kind, int) else None
    message = interaction.message
    if template is None or message is None or template.fullmatch(custom_id) is None:
        return False
    return any(getattr(c, "custom_id", None) == custom_id
               and getattr(getattr(c, "type", None), "value", None) == kind
               for c in _walk(message.components))


def _walk(components: Sequence[Any]) -> list[Any]:
    found: list[Any] = []
    for component in components:
        found.append(component)
        found += _walk(getattr(component, "children", None) or [])
    return found


class ChoiceButton(ui.DynamicItem[ui.Button[Any]], template=BUTTON_TEMPLATE):
    """A choice as a button; routed by custom id alone, so it works across restarts."""

    def __init__(self, choice_id: str, label: str = "…", *, row: int | None = None) -> None:
        super().__init__(ui.Button(label=shorten(label, MAX_BUTTON_LABEL),
                                   custom_id=BUTTON_PREFIX + choice_id,
                                   style=discord.ButtonStyle.secondary, row=row))
        self.choice_id = choice_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any],
                             item: ui.Item[Any], match: re.Match[str], /) -> ChoiceButton:
        return cls(match["choice"])

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """A `coach:` id sent as a select is not ours: the client's fallback answers it."""
        return routed(interaction)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _pressed(interaction, self.choice_id)


class ChoiceMenu(ui.DynamicItem[ui.Select[Any]], template=MENU_TEMPLATE):
    """A long list of choices as a select menu; the picked value is the choice id."""

    def __init__(self, number: int, choices: Sequence[Choice] = (), *,
                 row: int | None = None) -> None:
        options = [discord.SelectOption(label=shorten(c.label, MAX_OPTION_LABEL), value=c.id)
                   for c in choices]
        super().__init__(ui.Select(custom_id=f"{MENU_PREFIX}{number}", options=options,
                                   placeholder=SELECT_PLACEHOLDER, row=row))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any],
                             item: ui.Item[Any], match: re.Match[str], /) -> ChoiceMenu:
        return cls(int(match["n"]))

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """A `coach-menu:` id sent as a button is not ours: the client's fallback answers it."""
        return routed(interaction)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        values = (interaction.data or {}).get("values") or [FORGED_CHOICE]
        await _pressed(interaction, str(values[0]))


async def _pressed(interaction: discord.Interaction[Any], choice_id: str) -> None:
    handler: PressHandler | None = getattr(interaction.client, "handle_choice", None)
    if handler is not None:
        await handler(interaction, choice_id)


def choice_view(choices: Sequence[Choice]) -> ui.View | None:
    """Buttons for up to 25 choices, select menus (25 options each) for more."""
    if len(choices) > MAX_BUTTONS:
        return _menus(usable(choices, MAX_OPTION_VALUE))
    buttons = usable(choices, MAX_CUSTOM_ID - len(BUTTON_PREFIX))
    if not buttons:
        return None
    view = ui.View(timeout=None)
    per_row = rows_for(len(buttons), [c.label for c in buttons])
    for index, choice in enumerate(buttons):
        view.add_item(ChoiceButton(choice.id, choice.label, row=index // per_row))
    return view


def _menus(choices: list[Choice]) -> ui.View | None:
    if len(choices) > MAX_OPTIONS * MAX_ROWS:
        log.error("event=choices_dropped count=%d", len(choices) - MAX_OPTIONS * MAX_ROWS)
        choices = choices[:MAX_OPTIONS * MAX_ROWS]
    if not choices:
        return None
    view = ui.View(timeout=None)
    for number, start in enumerate(range(0, len(choices), MAX_OPTIONS)):
        view.add_item(ChoiceMenu(number, choices[start:start + MAX_OPTIONS], row=number))
    return view


def dm_link_view(url: str, label: str) -> ui.View:
    """One link button to the person's DM with the bot (no custom id, nothing to route)."""
    view = ui.View(timeout=None)
    view.add_item(ui.Button(label=label, url=url, style=discord.ButtonStyle.link))
    return view
