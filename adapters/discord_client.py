"""The Discord adapter's client side: the intents asked for, how Discord's users and
interactions read for the core, where a reply goes (Delivery), and the discord.py client
classes that forward events to the adapter (adapters/discord.py).

Why apart: these are discord.py's shapes, translated; adapters/discord.py is the adapter's
own work (lanes, acknowledgements, sending) on top of them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from adapters.discord_config import DiscordConfig
from adapters.discord_ui import FORGED_CHOICE, routed, shorten
from adapters.redact import redact
from bot.messages import UserKey
from bot.pipeline import Coach

if TYPE_CHECKING:
    from adapters.discord import DiscordBot

log = logging.getLogger("coach.discord")

PLATFORM = "discord"  # in user keys and the metrics' labels
NO_MENTIONS = discord.AllowedMentions.none()
MAX_FLOW_CHOICES = 25  # Discord's limit for an option's choices


# -- configuration (the settings: adapters/discord_config.py) -----------------------------------


def intents() -> discord.Intents:
    """DM messages only. Interactions (slash commands, buttons) need no intent, and DM text
    arrives without the privileged message-content intent, so nothing privileged is asked
    for. No guild state either: the bot never reads a server's channels, roles or members."""
    wanted = discord.Intents.none()
    wanted.dm_messages = True
    return wanted


# -- translation --------------------------------------------------------------------------------


def user_key(user: discord.abc.User) -> UserKey:
    return UserKey(PLATFORM, str(user.id))


def in_bot_dm(interaction: discord.Interaction[Any]) -> bool:
    """True only in the person's DM with this bot; a user-installed app can also be used in
    servers and in other people's DMs (context PRIVATE_CHANNEL), which are not private."""
    context = interaction.context
    if context.guild or context.private_channel:
        return False
    if context.dm_channel:
        return True
    return interaction.guild_id is None and isinstance(interaction.channel, discord.DMChannel)


def command_text(name: str, flow: str | None = None) -> str:
    """A slash command as the core's command text: `/start talk`."""
    return f"/{name} {flow}" if flow else f"/{name}"


def flow_choices(coach: Coach) -> list[app_commands.Choice[str]]:
    """The shipped flows as /start's choices, by title; Discord allows 25."""
    flows = sorted(coach.catalog.flows.values(), key=lambda f: f.spec.title.casefold())
    if len(flows) > MAX_FLOW_CHOICES:
        log.warning("event=flow_choices_truncated flows=%d", len(flows))
    return [app_commands.Choice(name=shorten(f.spec.title, 100), value=f.spec.id)
            for f in flows[:MAX_FLOW_CHOICES]]


@dataclass
class Delivery:
    """Where a reply goes: the DM channel, and the interaction it answers, if any."""

    channel: discord.abc.Messageable
    interaction: discord.Interaction[Any] | None = None
    ack: asyncio.Task[bool] | None = None
    edit_original: bool = False  # the first message replaces the "thinking" placeholder
    placeholder: int | None = None  # that placeholder's message id, once it is posted
    pressed: int | None = None  # the message whose buttons the acknowledgement removed
    failure: int | None = None  # Discord's error code when a message could not be sent


# -- the client ---------------------------------------------------------------------------------


class _Hooks:
    """What the client forwards to the adapter (a mixin, for both client classes)."""

    adapter: DiscordBot

    async def setup_hook(self) -> None:
        await self.adapter.setup()

    async def on_ready(self) -> None:
        self.adapter.ready()

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)

    async def handle_choice(self, interaction: discord.Interaction[Any], choice_id: str) -> None:
        await self.adapter.on_choice(interaction, choice_id)

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Every component interaction discord.py routes to no item (a forged custom id of
        another shape) still gets an acknowledgement, the notice and the current step."""
        if interaction.type is discord.InteractionType.component and not routed(interaction):
            log.info("event=unknown_custom_id interaction=%s", interaction.id)
            await self.adapter.on_choice(interaction, FORGED_CHOICE)


class CoachClient(_Hooks, discord.Client):
    pass


class ShardedCoachClient(_Hooks, discord.AutoShardedClient):
    pass


def build_client(config: DiscordConfig) -> discord.Client:
    # The coach has no voice: skip discord.py's start-up warnings about voice libraries.
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
    options: dict[str, Any] = {
        "intents": intents(),
        "allowed_mentions": NO_MENTIONS,
        "max_messages": None,  # no message cache: people's words are not kept in memory
        "member_cache_flags": discord.MemberCacheFlags.none(),
        "chunk_guilds_at_startup": False,
    }
    sharding = config.sharding
    if sharding.sharded_client:
        ids = list(sharding.ids) if sharding.ids else None
        return ShardedCoachClient(shard_count=sharding.count, shard_ids=ids, **options)
    if sharding.ids:
        return CoachClient(shard_id=sharding.ids[0], shard_count=sharding.count, **options)
    return CoachClient(**options)


def channel_id(delivery: Delivery) -> object:
    return getattr(delivery.channel, "id", None)


def failure_text(error: discord.HTTPException) -> str:
    """A failed call for the logs: status, Discord's code and its own message, which names
    the cause ("Missing Access", "Cannot send messages to this user"). Discord's messages
    never quote what people wrote. Were a proxy to echo the token, it is masked before the
    text is cut, so no cut can leave a piece of it that the log filter would not know."""
    text = shorten(redact(error.text), 200)
    return f"status={error.status} code={error.code} error={text!r}"


GLOBAL_ONLY_FIELDS = ("contexts", "integration_types")


class GuildCommand(app_commands.Command[Any, ..., None]):
    """discord.py sends `contexts` and `integration_types` as null when a command has none;
    a guild command should not carry the fields at all."""

    def to_dict(self, tree: app_commands.CommandTree[Any]) -> dict[str, Any]:
        payload = super().to_dict(tree)
        for key in GLOBAL_ONLY_FIELDS:
            if payload.get(key) is None:
                payload.pop(key, None)
        return payload
