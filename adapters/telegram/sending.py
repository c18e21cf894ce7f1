"""A Reply's way out to Telegram: its messages queued in the chat's lane of the outbox, the
button press answered, old buttons taken away, "typing" while the core works.

Why apart: what a reply becomes on the wire, and in which order, is the same whether the
update came by polling, by webhook, or from the ledger after a restart. Everything is queued
synchronously, so replies go out in the order they were handled; the outbox
(adapters/telegram/outbox.py) paces them and waits out 429s. The last message with buttons in
each chat is remembered (in memory, and in the ledger across restarts), so the next reply
takes those buttons away and only the current step's buttons work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from telegram import Bot, CallbackQuery, InputFile, LinkPreviewOptions
from telegram.constants import ChatAction
from telegram.error import BadRequest

from adapters.telegram.ledger import Ledger
from adapters.telegram.outbox import ApiCall, Outbox, never_arrived
from adapters.telegram.translate import (
    TelegramMessage,
    keyboard,
    private_chat_button,
    telegram_messages,
    toast,
    with_invite_link,
)
from bot.lru import BoundedLRU
from bot.messages import Reply
from bot.texts import Texts

log = logging.getLogger("coach.telegram")

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
KEYBOARDS_REMEMBERED = 50_000  # chats whose last keyboard is also kept in memory


def query_expired(error: BadRequest) -> bool:
    """Telegram's answer to a callback query it no longer knows (too old, or answered)."""
    text = error.message.lower()
    return "query is too old" in text or "query id is invalid" in text


class ReplySender:
    """Queues replies in the outbox and remembers which message in each chat has buttons."""

    def __init__(self, bot: Bot, texts: Texts, outbox: Outbox, ledger: Ledger, *,
                 typing_after: float, on_reply_sent: Callable[[], None] | None = None) -> None:
        """`on_reply_sent` hears of each reply whose last message Telegram accepted (the
        metrics)."""
        self.bot = bot
        self.on_reply_sent = on_reply_sent
        self.texts = texts
        self.outbox = outbox
        self.ledger = ledger
        self.typing_after = typing_after
        self._keyboards: BoundedLRU[int, int | None] = BoundedLRU(KEYBOARDS_REMEMBERED)

    def send(self, chat_id: int, private: bool, reply: Reply, query: CallbackQuery | None,
             on_sent: Callable[[], None] | None, *,
             on_error: Callable[[Exception], None] | None = None) -> None:
        """Queue everything for one reply; synchronous, so replies queue in handling order.
        `on_sent` runs once all of it has been sent (or given up); `on_error` hears why a
        call of it was given up (after a 403 the rest of the chat's lane is dropped). A step
        that was not saved and shows no buttons leaves the ones on screen: nothing changed,
        so they still work."""
        self.answer(query, reply.notice)
        if not reply.duplicate:
            if private:
                markup = keyboard(reply.choices)
                if reply.saved or markup is not None:
                    pressed = query.message.message_id if query and query.message else None
                    self.outbox.send(chat_id, self._clear_keyboards(chat_id, pressed),
                                     "editMessageReplyMarkup", paced=False, on_error=on_error)
            else:
                markup = private_chat_button(self.texts, self.bot.username)
            reply = with_invite_link(reply, self.texts, self.bot.username)
            items = telegram_messages(reply, markup, private=private)
            for item in items:
                self.outbox.send(chat_id, self._message(chat_id, item, private,
                                                        last=item is items[-1]),
                                 _method(item),
                                 group=not private, on_error=on_error)
        if on_sent is not None:
            self.outbox.after(chat_id, on_sent)

    async def delivered(self, chat_id: int, private: bool, reply: Reply,
                        query: CallbackQuery | None) -> bool:
        """Queue `reply` and wait until the outbox is done with it; False when one of its
        messages surely never reached Telegram."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lost: list[Exception] = []

        def given_up(error: Exception) -> None:
            if never_arrived(error):
                lost.append(error)

        def finished() -> None:
            if not done.done():
                done.set_result(None)

        self.send(chat_id, private, reply, query, finished, on_error=given_up)
        await done
        return not lost

    def answer(self, query: CallbackQuery | None, notice: str | None) -> None:
        """Answer a button press (its spinner stops), with the reply's notice as a toast."""
        if query is not None:
            self.answer_query(query.id, notice)

    def answer_query(self, query_id: str, notice: str | None) -> None:
        """answerCallbackQuery, at once (outside the chat's lane). Telegram refusing a query
        it no longer knows (too old, or answered before a crash) is expected after a restart
        and only noted."""
        bot, text = self.bot, toast(notice)

        async def answer() -> None:
            try:
                await bot.answer_callback_query(query_id, text=text)
            except BadRequest as error:
                if not query_expired(error):
                    raise
                log.info("event=callback_answer_expired")

        self.outbox.send_now(answer, "answerCallbackQuery")

    def typing_soon(self, chat_id: int) -> asyncio.TimerHandle:
        """Queue "typing" if the core is still working after `typing_after`; the outbox drops
        it when the reply is already queued behind it, so it never follows the reply."""
        bot = self.bot

        async def typing() -> None:
            await bot.send_chat_action(chat_id, ChatAction.TYPING)

        return asyncio.get_running_loop().call_later(
            self.typing_after,
            lambda: self.outbox.send(chat_id, typing, "sendChatAction", paced=False,
                                     ephemeral=True))

    # -- one message, and the buttons on screen

    def _message(self, chat_id: int, item: TelegramMessage, private: bool, *,
                 last: bool) -> ApiCall:
        bot, on_reply_sent = self.bot, self.on_reply_sent if last else None

        async def send() -> None:
            if item.document is not None:
                document = InputFile(item.document.data, filename=item.document.filename)
                if item.document.picture:  # shown in the chat, not as a file to open
                    sent = await bot.send_photo(chat_id, document, reply_markup=item.markup)
                else:
                    sent = await bot.send_document(chat_id, document, reply_markup=item.markup)
            else:
                sent = await bot.send_message(chat_id, item.text or "", reply_markup=item.markup,
                                              link_preview_options=NO_PREVIEW)
            if private and item.markup is not None:
                self._remember_keyboard(chat_id, sent.message_id)
            if on_reply_sent is not None:
                on_reply_sent()

        return send

    async def deliver_unasked(self, chat_id: int, reply: Reply) -> list[Exception]:
        """A reply nobody asked for just now (a check-in), queued in the chat's lane like any
        other so it never cuts into a reply being sent; why each message of it was given up
        (Forbidden: the person blocked the bot)."""
        errors: list[Exception] = []
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def finished() -> None:
            if not done.done():
                done.set_result(None)

        self.send(chat_id, True, reply, None, finished, on_error=errors.append)
        await done
        return errors

    def _remember_keyboard(self, chat_id: int, message_id: int | None) -> None:
        self._keyboards.put(chat_id, message_id)
        self.ledger.set_keyboard(chat_id, message_id)

    async def _last_keyboard(self, chat_id: int) -> int | None:
        """Remembered here, unless other processes answer this chat too (a shared ledger):
        then only the ledger knows which message they last sent with buttons."""
        if chat_id in self._keyboards and not self.ledger.shared:
            return self._keyboards.get(chat_id)
        message_id = await self.ledger.keyboard(chat_id)  # from an earlier run, or forgotten
        self._keyboards.put(chat_id, message_id)
        return message_id

    def _clear_keyboards(self, chat_id: int, pressed: int | None) -> ApiCall:
        """Take the buttons off the pressed message and off the last one that had any, so
        old buttons do not linger, also after a restart (the ledger remembers). Read when it
        runs: by then earlier sends have finished."""
        todo: list[int] | None = None

        async def clear() -> None:
            nonlocal todo
            if todo is None:
                last = await self._last_keyboard(chat_id)
                todo = sorted({pressed, last} - {None})
                if last is not None:
                    self._remember_keyboard(chat_id, None)
            while todo:
                await self._remove_markup(chat_id, todo[0])
                todo.pop(0)

        return clear

    async def _remove_markup(self, chat_id: int, message_id: int) -> None:
        try:
            await self.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
        except BadRequest as error:
            if "not modified" not in error.message.lower():
                log.info("event=keyboard_not_removed chat=%s error=%s", chat_id, error.message)


def _method(item: TelegramMessage) -> str:
    """The Bot API method an item goes out with (for the outbox's logs and pacing)."""
    if item.document is None:
        return "sendMessage"
    return "sendPhoto" if item.document.picture else "sendDocument"
