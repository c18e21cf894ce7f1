"""The Discord adapter: discord.py 2.x in front of the core.

It only translates. A DM, a slash command or a button press becomes an Incoming for
`Coach.handle` (user `UserKey("discord", user id)`, update id = message or interaction id, so
an event the gateway replays is handled once by the core); the Reply becomes Discord messages:
parts packed into as few messages as fit under 2,000 characters (markdown escaped, so text
shows as written), choices as persistent buttons on the last one (adapters/discord_ui.py),
exports as a file plus the text. `allowed_mentions` is "none" on the client and on every send,
so nothing anyone typed can ping @everyone, a role or a user.

Where the conversation happens: in the person's DM with the bot. A slash command used in a
server (or in someone else's DM, for a user-installed app) gets only the core's `group_chat`
notice, ephemeral (seen by that person alone), with a link button that opens their DM with
the bot. Nothing of a flow or of the person's answers is ever posted in a channel.

Timing: an interaction must be acknowledged within 3 s, so the acknowledgement (a "thinking"
defer for commands, a deferred update for buttons) is sent at once, beside the core's work,
never after it. Order: each handler takes its place in a per-user lane before its first await,
so one person's events are handled and answered in arrival order, while others run in
parallel; the core also serialises per user and skips update ids it has seen. Because a
command's placeholder is posted at acknowledgement, before its turn comes, its answer is sent
below rather than into it when anything was posted in the DM after it.

Every component interaction is answered, whatever its custom id: those no persistent item
claims reach the core as a forged choice (adapters/discord_ui.py).

Everything else is discord.py's: gateway reconnects and resumes, heartbeats, rate limits.
Logs carry event names and ids only; the token is redacted everywhere (adapters/redact.py);
discord.py's own loggers, which print payloads at DEBUG, are held at INFO. Settings errors,
signals, start-up failures and exit codes are handled as for Telegram (adapters/lifecycle.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.utils import MISSING

from adapters import lifecycle
from adapters.discord_checkins import checkin_loop
from adapters.discord_client import (
    NO_MENTIONS,
    PLATFORM,
    Delivery,
    GuildCommand,
    build_client,
    channel_id,
    command_text,
    failure_text,
    flow_choices,
    in_bot_dm,
    intents,
    user_key,
)
from adapters.discord_config import DiscordConfig, apply_endpoints, discord_config
from adapters.discord_locale import DescriptionTranslator, locale_of
from adapters.discord_logs import quiet_library_logs
from adapters.discord_ui import (
    ChoiceButton,
    ChoiceMenu,
    DiscordMessage,
    choice_view,
    discord_messages,
    dm_link_view,
    files,
    pack,
    plain,
)
from adapters.lifecycle import StartFailures
from adapters.status import status_server
from bot.app import Settings
from bot.commands import menu_entries
from bot.locks import KeyedLocks
from bot.lru import BoundedLRU
from bot.messages import Incoming, Reply
from bot.pipeline import Coach

log = logging.getLogger("coach.discord")
__all__ = ["Delivery", "DiscordBot", "intents", "quiet_library_logs", "run_discord", "serve"]

KEYBOARDS_REMEMBERED = 50_000  # DM channels whose last buttons / newest message are kept
TEXT_MESSAGES = (discord.MessageType.default, discord.MessageType.reply)

EVERYWHERE = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)
ANY_INSTALL = app_commands.AppInstallationType(guild=True, user=True)
START_FAILURES = StartFailures(
    platform="Discord",
    rejected=discord.LoginFailure,
    rejected_line="Discord rejected DISCORD_BOT_TOKEN (401 Unauthorized); copy it again from "
                  "the developer portal",
    failed=(discord.DiscordException, aiohttp.ClientError, OSError),
    ended_line="the Discord gateway connection ended",
)


class DiscordBot:
    """One running bot: the discord.py client, its command tree and the per-user lanes."""

    def __init__(self, coach: Coach, config: DiscordConfig) -> None:
        self.coach = coach
        self.config = config
        self.client = build_client(config)
        self.client.adapter = self  # type: ignore[attr-defined]
        self.tree = app_commands.CommandTree(self.client)
        self.tree.on_error = self._on_command_error  # type: ignore[method-assign]
        self._add_commands()
        self.lanes = KeyedLocks()
        self.running: asyncio.Task[None] | None = None
        self.stopping = False
        self._inflight: set[asyncio.Task[Any]] = set()
        self._keyboards: BoundedLRU[int, int] = BoundedLRU(KEYBOARDS_REMEMBERED)
        self._newest: BoundedLRU[int, int] = BoundedLRU(KEYBOARDS_REMEMBERED)  # DM -> newest
        self.checkins = checkin_loop(self)

    # -- lifecycle

    async def start(self) -> None:
        """Log in (which syncs the commands), then connect in the background. Raises
        discord.LoginFailure for a rejected token."""
        await self.client.login(self.config.token)
        sharding = self.config.sharding
        if sharding.auto and self.config.gateway_url:
            # Keep our gateway: with a count set, discord.py uses DEFAULT_GATEWAY.
            count, _, _ = await self.client.http.get_bot_gateway()
            self.client.shard_count = count
        self.running = asyncio.create_task(self.client.connect(reconnect=True))
        self.checkins.start()

    async def setup(self) -> None:
        """discord.py's setup_hook: after login, before the gateway connects."""
        self.client.add_dynamic_items(ChoiceButton, ChoiceMenu)
        if self.config.sharding.syncs_commands:
            await self._sync_commands()

    def ready(self) -> None:
        log.info("event=discord_ready bot_id=%s shards=%s",
                 self.client.user.id if self.client.user else None, self.client.shard_count)

    @property
    def ended(self) -> asyncio.Task[None] | None:
        """The gateway connection, done if it ends on its own (reconnects gave up)."""
        return self.running

    async def stop(self) -> None:
        """Take no new events, let the ones in flight finish, then close the connection."""
        self.stopping = True
        await self.checkins.stop()
        if self._inflight:
            _, left = await asyncio.wait(set(self._inflight), timeout=self.config.drain_timeout)
            if left:
                log.warning("event=handlers_abandoned count=%d", len(left))
        await self.client.close()
        if self.running is not None:
            if not self.running.done():
                self.running.cancel()
            await asyncio.gather(self.running, return_exceptions=True)
        log.info("event=discord_stopped")

    async def _sync_commands(self) -> None:
        guild_id = self.config.guild_id
        guild = discord.Object(id=guild_id) if guild_id is not None else None
        try:
            await self.tree.set_translator(DescriptionTranslator(self.coach.texts_by_language()))
            synced = await self.tree.sync(guild=guild)
        except discord.HTTPException as error:  # no command menu is no reason not to run
            log.warning("event=commands_sync_failed %s", failure_text(error))
            return
        log.info("event=commands_synced scope=%s count=%d",
                 "global" if guild is None else "guild", len(synced))

    # -- commands

    def _add_commands(self) -> None:
        """The global commands and, with DISCORD_GUILD_ID, the same for that guild, which is
        what gets synced then. The global set stays in the tree so that global commands
        synced earlier keep working while they linger in people's clients."""
        async def start(interaction: discord.Interaction[Any], flow: str | None = None) -> None:
            await self.on_command(interaction, command_text("start", flow))

        async def pair(interaction: discord.Interaction[Any], code: str) -> None:
            await self.on_command(interaction, command_text("pair", code))

        texts = self.coach.texts
        start = app_commands.describe(flow=texts.get("command_start_topic"))(start)
        start = app_commands.choices(flow=flow_choices(self.coach))(start)
        pair = app_commands.describe(code=texts.get("command_pair_code"))(pair)
        # The core's command table, with what Discord's command picker shows beside each.
        callbacks = [(command.name, description,
                      start if command.takes_topic else pair if command.takes_code
                      else self._simple(command.name))
                     for command, description in menu_entries(texts)]
        scopes = [None] if self.config.guild_id is None else [
            None, discord.Object(id=self.config.guild_id)]
        for guild in scopes:
            for name, description, callback in callbacks:
                self._add(name, description, callback, guild)

    def _simple(self, name: str) -> Callable[[discord.Interaction[Any]], Coroutine[Any, Any, None]]:
        async def command(interaction: discord.Interaction[Any]) -> None:
            await self.on_command(interaction, command_text(name))

        return command

    def _add(self, name: str, description: str, callback: Any,
             guild: discord.Object | None) -> None:
        """Discord documents `contexts` and `integration_types` for global commands only,
        so a guild's copy has neither."""
        everywhere = guild is None
        self.tree.add_command(GuildCommand(
            name=name, description=description, callback=callback,
            allowed_contexts=EVERYWHERE if everywhere else None,
            allowed_installs=ANY_INSTALL if everywhere else None), guild=guild)

    async def _on_command_error(self, interaction: discord.Interaction[Any],
                                error: app_commands.AppCommandError) -> None:
        log.error("event=command_error interaction=%s error=%s", interaction.id,
                  type(error).__name__, exc_info=error)

    # -- inbound: no await may come before a handler has its place in the user's lane

    async def on_message(self, message: discord.Message) -> None:
        """DMs from people; server messages never arrive (no guild message intent)."""
        if message.guild is None:
            self._posted(message.channel.id, message.id)
        if message.author.bot or message.guild is not None or message.type not in TEXT_MESSAGES:
            return
        if self._refused():
            return
        incoming = Incoming(user_key(message.author), text=message.content, private=True,
                            update_id=str(message.id))
        await self._tracked(self._serve(incoming, Delivery(message.channel)))

    async def on_command(self, interaction: discord.Interaction[Any], text: str) -> None:
        if self._refused():
            return
        private = in_bot_dm(interaction)
        incoming = Incoming(user_key(interaction.user), text=text, private=private,
                            update_id=str(interaction.id), language=locale_of(interaction))
        if private:
            delivery = Delivery(self._channel(interaction), interaction, edit_original=True)
            delivery.ack = self._acknowledge(interaction, self._think(interaction, delivery))
            await self._tracked(self._serve(incoming, delivery))
        else:
            ack = self._acknowledge(interaction, self._think(interaction, None))
            await self._tracked(self._notice_elsewhere(interaction, incoming, ack))

    async def on_choice(self, interaction: discord.Interaction[Any], choice_id: str) -> None:
        if self._refused():
            return
        private = in_bot_dm(interaction)
        incoming = Incoming(user_key(interaction.user), button=choice_id, private=private,
                            update_id=str(interaction.id), language=locale_of(interaction))
        ack = self._acknowledge(interaction, self._defer_press(interaction, strip=private))
        if private:
            pressed = interaction.message.id if interaction.message else None
            delivery = Delivery(self._channel(interaction), interaction, ack, pressed=pressed)
            await self._tracked(self._serve(incoming, delivery))
        else:
            await self._tracked(self._notice_elsewhere(interaction, incoming, ack))

    def _refused(self) -> bool:
        """While stopping, events are left alone (not even acknowledged)."""
        if self.stopping:
            log.info("event=dropped_while_stopping")
        return self.stopping

    async def _tracked(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as part of this event's task, which stop() waits for."""
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await work
        finally:
            if task is not None:
                self._inflight.discard(task)

    def _acknowledge(self, interaction: discord.Interaction[Any],
                     work: Coroutine[Any, Any, None]) -> asyncio.Task[bool]:
        """Start the acknowledgement now, beside the core's work: True once it is sent."""
        async def send() -> bool:
            try:
                await work
                return True
            except discord.DiscordException as error:  # expired, or answered already
                log.warning("event=ack_failed interaction=%s error=%s code=%s", interaction.id,
                            type(error).__name__, getattr(error, "code", None))
                return False

        return asyncio.create_task(send())

    async def _think(self, interaction: discord.Interaction[Any],
                     delivery: Delivery | None) -> None:
        """Acknowledge a command with a "thinking" placeholder (ephemeral outside the DM). In
        the DM, note the placeholder's id: if anything is posted below it before the answer
        is ready, the answer goes below that instead of into the placeholder."""
        response = await interaction.response.defer(thinking=True, ephemeral=delivery is None)
        if delivery is not None and response is not None and response.message_id is not None:
            delivery.placeholder = response.message_id
            self._posted(interaction.channel_id or 0, response.message_id)

    async def _defer_press(self, interaction: discord.Interaction[Any], *, strip: bool) -> None:
        """Acknowledge a press. In the DM, also take the buttons off its message, so it
        cannot be pressed twice; the core answers with the next step (or a notice and the
        current one). Elsewhere the only message that can carry a press is the ephemeral
        notice, whose link to the DM must stay."""
        await interaction.response.defer()
        if not strip:
            return
        try:
            await interaction.edit_original_response(view=None, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:
            log.info("event=buttons_not_removed interaction=%s %s", interaction.id,
                     failure_text(error))

    def _channel(self, interaction: discord.Interaction[Any]) -> discord.abc.Messageable:
        channel = interaction.channel
        if isinstance(channel, discord.abc.Messageable):
            return channel
        return self.client.get_partial_messageable(interaction.channel_id or 0)

    # -- the core and the reply

    async def _serve(self, incoming: Incoming, delivery: Delivery) -> None:
        async with self.lanes.hold(incoming.user.key):
            try:
                reply = await self.coach.handle(incoming)
            except Exception:
                log.exception("event=core_failed user=%s", incoming.user.key)
                await self._abandon(delivery)
                return
            if delivery.ack is not None and not await delivery.ack:
                # Not acknowledged in time: answer in the DM without the interaction.
                delivery = Delivery(delivery.channel)
            await self.deliver(reply, delivery)

    async def deliver(self, reply: Reply, delivery: Delivery) -> None:
        if reply.duplicate:
            await self._abandon(delivery)
            return
        await self._clear_old_buttons(delivery)
        for index, item in enumerate(discord_messages(reply)):
            view = choice_view(item.choices) if item.choices else None
            sent = await self._send(delivery, item, view, replace=index == 0)
            if sent is None:
                return
            self._posted(sent.channel.id, sent.id)
            if view is not None:
                self._remember_buttons(sent.channel.id, sent.id)
        self.coach.metrics.reply_sent(PLATFORM)

    async def _send(self, delivery: Delivery, item: DiscordMessage,
                    view: discord.ui.View | None, *,
                    replace: bool) -> discord.Message | None:
        """One message. The first of a command's reply replaces its "thinking" placeholder,
        unless something was posted below the placeholder meanwhile (an earlier event's
        answer, another placeholder, the person's next message): then the placeholder goes
        and the reply is sent below, so replies read in the order the events were handled.
        If replacing fails, it goes to the DM as a plain message. None when nothing was sent."""
        interaction = delivery.interaction
        if replace and delivery.edit_original and interaction is not None:
            if self._overtaken(delivery):
                log.info("event=placeholder_overtaken interaction=%s", interaction.id)
                await self._drop_placeholder(interaction)
            else:
                try:
                    return await interaction.edit_original_response(
                        content=item.content or None, view=view,
                        attachments=files(item.attachments) or MISSING,
                        allowed_mentions=NO_MENTIONS)
                except discord.HTTPException as error:
                    log.warning("event=placeholder_not_replaced interaction=%s %s",
                                interaction.id, failure_text(error))
        try:
            return await delivery.channel.send(
                content=item.content or None, view=view, files=files(item.attachments) or None,
                allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:  # e.g. 50007: they closed their DMs
            log.error("event=send_failed channel=%s %s", channel_id(delivery), failure_text(error))
            delivery.failure = error.code
            return None

    def _overtaken(self, delivery: Delivery) -> bool:
        """Was anything posted in the DM after this command's placeholder? Snowflake ids
        grow with time, so the newest id seen there says."""
        placeholder = delivery.placeholder
        newest = self._newest.get(getattr(delivery.channel, "id", 0))
        return placeholder is not None and newest is not None and newest > placeholder

    async def _drop_placeholder(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await interaction.delete_original_response()
        except discord.HTTPException as error:
            log.warning("event=placeholder_not_deleted interaction=%s %s", interaction.id,
                        failure_text(error))

    def _posted(self, channel_id: int, message_id: int) -> None:
        """Note a message in a DM (the person's, a reply, a placeholder): the newest one
        tells whether a placeholder is still the last thing there."""
        self._newest.put(channel_id, max(message_id, self._newest.get(channel_id, 0) or 0))

    async def _abandon(self, delivery: Delivery) -> None:
        """Nothing to say (a duplicate, or the core failed): remove a "thinking" placeholder
        rather than leave it spinning."""
        interaction = delivery.interaction
        if interaction is None or not delivery.edit_original:
            return
        if delivery.ack is not None and not await delivery.ack:
            return
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()

    async def _notice_elsewhere(self, interaction: discord.Interaction[Any], incoming: Incoming,
                                ack: asyncio.Task[bool]) -> None:
        """Outside the bot's DM the core returns only its `group_chat` notice: show it to this
        person alone, with a button that opens their DM with the bot."""
        reply = await self.coach.handle(incoming)
        if not await ack:
            return
        texts = pack([plain(part) for part in reply.parts]) or [""]
        view = dm_link_view(await self._dm_url(interaction.user),
                            self.coach.texts.get("private_chat_button"))
        try:
            if interaction.type is discord.InteractionType.component:
                await interaction.followup.send(texts[0], view=view, ephemeral=True,
                                                allowed_mentions=NO_MENTIONS)
            else:
                await interaction.edit_original_response(content=texts[0], view=view,
                                                         allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:
            log.error("event=notice_failed interaction=%s %s", interaction.id, failure_text(error))
        else:
            self.coach.metrics.reply_sent(PLATFORM)

    async def _dm_url(self, user: discord.abc.User) -> str:
        """A link to the person's DM with the bot: opening the channel posts nothing."""
        try:
            channel = await user.create_dm()
            return f"https://discord.com/channels/@me/{channel.id}"
        except discord.HTTPException as error:
            log.info("event=dm_open_failed %s", failure_text(error))
            bot_id = self.client.user.id if self.client.user else self.client.application_id
            return f"https://discord.com/users/{bot_id}"

    def _remember_buttons(self, channel_id: int, message_id: int) -> None:
        self._keyboards.put(channel_id, message_id)

    async def _clear_old_buttons(self, delivery: Delivery) -> None:
        """Take the buttons off the last message that had any, so old steps do not linger
        (the pressed message lost its buttons with the acknowledgement)."""
        channel = delivery.channel
        old = self._keyboards.pop(getattr(channel, "id", 0), None)
        if old is None or old == delivery.pressed or not hasattr(channel, "get_partial_message"):
            return
        try:
            await channel.get_partial_message(old).edit(view=None, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:
            log.info("event=buttons_not_removed channel=%s %s", channel_id(delivery),
                     failure_text(error))


# -- the command --------------------------------------------------------------------------------


def _prepare(config: DiscordConfig) -> None:
    quiet_library_logs()
    apply_endpoints(config)


def run_discord(settings: Settings, args: argparse.Namespace | None = None) -> int:
    """`coach discord`: run until SIGINT/SIGTERM; returns the exit code."""
    return lifecycle.run(settings, lambda: discord_config(os.environ, args),
                         secrets=lambda config: (config.token,), prepare=_prepare, serve=serve)


async def serve(coach: Coach, config: DiscordConfig) -> int:
    """Run a bot on `coach` until SIGINT/SIGTERM (a signal during start-up cancels it), then
    stop it and close the core."""
    return await lifecycle.serve(DiscordBot(coach, config), coach, START_FAILURES,
                                 status_server(coach, config.status))
