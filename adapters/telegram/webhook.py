"""Webhook mode: the endpoint Telegram POSTs updates to, on aiohttp (PTB's own needs tornado).

Why the 200 waits: Telegram forgets an update once it is answered 2xx, so the answer is sent
only once the core has committed it, or the person was told it did not go through; a crash
before that cannot lose it, Telegram sends it again. An update left unhandled is answered
500 (or 503 while stopping), which Telegram retries too. Order: Telegram's Bot API server
keeps one queue per chat and sends a chat's next update only after the previous one was
answered 2xx, so one person's messages arrive one at a time, in order, while other chats use
the other connections (`WEBHOOK_MAX_CONNECTIONS`). The secret header is checked in constant
time; nothing else is logged about a request (no access log: it would print every URL).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Bot, Update
from telegram.error import TelegramError

from adapters.status import add_status_routes
from adapters.telegram.handling import Outcome, UpdateHandler
from adapters.telegram.translate import ALLOWED_UPDATES, to_incoming
from bot.store.base import StoreClosed

log = logging.getLogger("coach.telegram")

# Telegram's Bot API server sends a webhook update only after the previous one of the same
# chat was answered 2xx (a queue per chat), over up to this many connections in all.
WEBHOOK_MAX_CONNECTIONS = 40
WEBHOOK_STOP_WAIT = 10.0  # seconds in-flight webhook requests get to finish at a stop
# Several processes (a shared store): how long the 200 waits for the reply to be out. Past
# it, Telegram is answered anyway (its own timeout would only send the update again).
REPLY_OUT_WAIT = 20.0
MAX_WEBHOOK_BODY = 1 << 20  # bytes; larger posts get 413 (Telegram's updates are far smaller)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookServer:
    """The endpoint, and the webhook registered with Telegram while it runs."""

    def __init__(self, bot: Bot, handler: UpdateHandler, url: str, secret: str, listen: str,
                 port: int, *, shared: bool = False) -> None:
        self.bot = bot
        self.handler = handler
        self.url = url
        self.path = urlsplit(url).path or "/"
        self.secret = secret.encode()
        self.listen = listen
        self.port = port
        self.shared = shared  # other processes serve the same webhook
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen, then tell Telegram where to POST."""
        server = web.Application(client_max_size=MAX_WEBHOOK_BODY)
        server.router.add_post(self.path, self._receive)
        add_status_routes(server, self.handler.coach)  # /healthz, /metrics for the balancer
        # access_log=None: an access log would print every request line.
        self._runner = web.AppRunner(server, access_log=None, handle_signals=False,
                                     shutdown_timeout=WEBHOOK_STOP_WAIT)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.listen, self.port).start()
        await self.bot.set_webhook(self.url, secret_token=self.secret.decode(),
                                   allowed_updates=ALLOWED_UPDATES,
                                   max_connections=WEBHOOK_MAX_CONNECTIONS)

    async def stop(self) -> None:
        """Tell Telegram to stop POSTing (unless other processes serve the webhook too: then
        it stays, and they take the updates), then let the requests in progress finish."""
        if not self.shared:
            with contextlib.suppress(TelegramError):
                await self.bot.delete_webhook()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def receive(self, update: Update) -> Outcome:
        """One update; returns once the core has committed it (or the person was told it did
        not go through), so the 200 that tells Telegram to forget it is never sent for an
        update not yet handled. AGAIN: answer so that Telegram sends it again."""
        message = to_incoming(update)
        await self.handler.take([update], [message])
        with self.handler.handling(1):
            outcome = await self.handler.process(update, message)
            await self.handler.ledger.flush()
            if outcome is Outcome.DONE and not await self.handler.reply_out(
                    update.update_id, REPLY_OUT_WAIT):
                log.warning("event=reply_not_out update=%s", update.update_id)
        return outcome

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            log.warning("event=webhook_rejected status=401 reason=no_secret")
            return web.Response(status=401)
        if not hmac.compare_digest(given.encode("utf-8", "replace"), self.secret):
            log.warning("event=webhook_rejected status=403 reason=wrong_secret")
            return web.Response(status=403)
        try:
            update = Update.de_json(await request.json(), self.bot)
        except web.HTTPRequestEntityTooLarge:
            log.warning("event=webhook_rejected status=413 reason=too_large")
            return web.Response(status=413)
        except Exception:  # not JSON, or not an Update
            update = None
        if update is None:
            log.warning("event=webhook_rejected status=400 reason=bad_update")
            return web.Response(status=400)
        try:
            outcome = await self.receive(update)
        except StoreClosed:  # stopping: not handled, so Telegram must send it again
            return web.Response(status=503)
        if outcome is Outcome.AGAIN:  # not handled: any answer but 2xx makes Telegram retry
            return web.Response(status=500)
        return web.Response(text="ok")
