"""Telegram's shapes and the core's, both ways: an Update becomes an Incoming, a Reply becomes
the messages to send.

Why apart: these are pure functions of their input (no network, no state), so what Telegram
accepts (4096 UTF-16 units a message, 64 bytes of callback data, 200 characters of toast) is
decided and tested in one place. Each part is plain text (no parse_mode, so nothing a person
types can break markup), split at paragraph, line, sentence or word boundaries; choices are
inline buttons on the last message; exports are documents. Every word the bot says comes from
the core and the flows, the command menu and the private-chat button label included
(`flows/core/messages.yaml`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType

from adapters.text_split import pack
from adapters.text_split import split_text as split_by_units
from bot.commands import menu_entries
from bot.messages import Attachment, Choice, Incoming, Reply, UserKey
from bot.pairing.codes import link_payload
from bot.texts import Texts

log = logging.getLogger("coach.telegram")

ALLOWED_UPDATES = ["message", "callback_query"]  # the updates the adapter asks Telegram for
MAX_TEXT_UNITS = 4096  # UTF-16 code units, as Telegram counts
MAX_CALLBACK_DATA_BYTES = 64
MAX_TOAST = 200
SHORT_LABEL = 16  # labels up to this long go two to a row

# Telegram's command menu is the core's command table (bot/commands.py), in its order; each
# description is the core message `command_<name>` and the group chat's button label is
# `private_chat_button`, both in flows/core/messages.yaml like every other sentence.
PRIVATE_CHAT_BUTTON = "private_chat_button"
INVITE_LINK = "invite_link"  # "Or send them this link: ${link}"


# -- inbound ----------------------------------------------------------------------------------


def to_incoming(update: Update) -> Incoming | None:
    """The core's view of an update; None for updates that are not a person's message."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return None
    key = UserKey("telegram", str(user.id))
    private = chat.type == ChatType.PRIVATE
    update_id = str(update.update_id)
    language = user.language_code  # the app's language: the core takes it the first time
    if update.callback_query is not None:
        return Incoming(key, button=update.callback_query.data or "", private=private,
                        update_id=update_id, language=language)
    if update.message is None:
        return None
    return Incoming(key, text=update.message.text, private=private, update_id=update_id,
                    language=language)


def addressed(message: Message, username: str | None, bot_id: int) -> bool:
    """In a group, whether a message is meant for the bot (a command without another bot's
    name, a mention, a reply to the bot), never the group's own talk."""
    text, name = message.text or "", (username or "").casefold()
    if text.startswith("/"):
        head = text.split(maxsplit=1)[0]
        return "@" not in head or head.split("@", 1)[1].casefold() == name
    if name and f"@{name}" in text.casefold():
        return True
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.id == bot_id)


# -- outbound ---------------------------------------------------------------------------------


def adapter_text(texts: Texts, text_id: str) -> str:
    """One of the adapter's core messages (see the command table)."""
    return texts.get(text_id)


def command_menu(texts: Texts) -> list[tuple[str, str]]:
    """(command, description) for setMyCommands, the descriptions from the flows."""
    return [(command.name, description) for command, description in menu_entries(texts)]


def private_chat_button(texts: Texts, username: str | None) -> InlineKeyboardMarkup:
    """The one button a group gets: a link that opens the person's chat with the bot."""
    label = adapter_text(texts, PRIVATE_CHAT_BUTTON)
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, url=f"https://t.me/{username}")]])


def with_invite_link(reply: Reply, texts: Texts, username: str | None) -> Reply:
    """A couple-mode invite as a deep link too (t.me/<bot>?start=pair-CODE): the core gives
    the code, only the adapter knows the bot's name."""
    if not reply.invite_code or not username:
        return reply
    link = f"https://t.me/{username}?start={link_payload(reply.invite_code)}"
    return replace(reply, parts=[*reply.parts, texts.get(INVITE_LINK, link=link)])


def split_text(text: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """Chunks Telegram accepts, cut at paragraph, line, sentence or word boundaries."""
    return split_by_units(text, limit)


def _fits(choice: Choice) -> bool:
    size = len(choice.id.encode("utf-8"))
    if 1 <= size <= MAX_CALLBACK_DATA_BYTES:
        return True
    log.error("event=button_dropped reason=callback_data_size bytes=%d", size)
    return False


def keyboard(choices: list[Choice]) -> InlineKeyboardMarkup | None:
    """One button per row, or two when every label is short; oversized ids are dropped."""
    buttons = [InlineKeyboardButton(c.label, callback_data=c.id) for c in choices if _fits(c)]
    if not buttons:
        return None
    width = 2 if len(buttons) > 1 and all(len(b.text) <= SHORT_LABEL for b in buttons) else 1
    return InlineKeyboardMarkup([buttons[i:i + width] for i in range(0, len(buttons), width)])


def toast(notice: str | None) -> str | None:
    """answerCallbackQuery text: at most 200 characters."""
    if not notice:
        return None
    return notice if len(notice) <= MAX_TOAST else notice[:MAX_TOAST - 1] + "…"


@dataclass(frozen=True)
class TelegramMessage:
    """One message to send: text or a document, with the keyboard if it is the last one."""

    text: str | None = None
    document: Attachment | None = None
    markup: InlineKeyboardMarkup | None = None


def telegram_messages(reply: Reply, markup: InlineKeyboardMarkup | None, *,
                      private: bool) -> list[TelegramMessage]:
    """The messages for one Reply, in order: its parts as one message where it fits
    Telegram's limit; groups never get attachments."""
    items = [TelegramMessage(text=text) for text in pack(reply.parts, MAX_TEXT_UNITS)]
    if private:
        items += [TelegramMessage(document=attachment) for attachment in reply.attachments]
    if markup is not None:
        if not items:
            log.error("event=keyboard_without_text")
        else:
            last = items[-1]
            items[-1] = TelegramMessage(last.text, last.document, markup)
    return items
