"""The shared records one message may read or change, loaded before its step and saved
before the person's own session.

A step is a plain function of what was loaded: it reads and changes records here, and the
pipeline saves each changed one with compare-and-set. When a partner saved first, the save
raises VersionConflict and the whole message runs again on what is stored now, so two
partners acting at once never overwrite each other. Records are sessions under keys of their
own (`pair:<id>`, `invite:<hash>`) with their data in `Session.record`, so every store keeps,
encrypts, purges and deletes them as it does sessions.
"""

from __future__ import annotations

import copy
from typing import Any

from bot.command_text import parse_command
from bot.export import CONCERN_SLOT
from bot.pairing.codes import DEEP_LINK_PREFIX, code_hash
from bot.session import Session
from bot.store.base import Store

# Concerns under which no invite may be made or accepted (set by flows/safety.yaml).
BLOCKING = frozenset({"violence", "coercive_control"})
SERVICE = "pairing"  # how flow conditions and actions find this turn's records


def pair_key(pair_id: str) -> str:
    return f"pair:{pair_id}"


def invite_key(digest: str) -> str:
    return f"invite:{digest}"


def blocked(session: Session | None) -> bool:
    """A violence or coercive-control concern is on record for this person."""
    return session is not None and session.slots.get(CONCERN_SLOT) in BLOCKING


def typed_code(text: str | None) -> str | None:
    """The hash of a code in `/pair CODE` or `/start pair-CODE`, if the text is one."""
    command = parse_command(text) if text else None
    if command is None:
        return None
    name, args = command
    if name == "start" and args.casefold().startswith(DEEP_LINK_PREFIX):
        return code_hash(args[len(DEEP_LINK_PREFIX):])
    return code_hash(args) if name == "pair" and args else None


class Shared:
    """This message's view of the shared records: what was loaded, what changed."""

    def __init__(self, now: float, me: str) -> None:
        self.now = now
        self.me = me
        self._loaded: dict[str, Session | None] = {}
        self._changed: dict[str, dict[str, Any] | None] = {}
        self.blocked_people: set[str] = set()  # others with a blocking concern, never why
        self.typed: str | None = None  # the hash of a code typed in this message
        self.new_code: str | None = None  # a code made in this message, shown once
        # (partner, topic): partners to tell, once this message is committed, that this
        # person is ready to compare the topic (bot/checkins/turns.py: partner_ready).
        self.partner_news: list[tuple[str, str]] = []

    # -- reading and changing --------------------------------------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        """A record's data as this message sees it (its own changes included); a copy to
        change and `put` back."""
        if key in self._changed:
            data = self._changed[key]
        else:
            stored = self._loaded.get(key)
            data = stored.record if stored is not None else None
        return copy.deepcopy(data) if data is not None else None

    def put(self, key: str, data: dict[str, Any]) -> None:
        self._changed[key] = data

    def drop(self, key: str) -> None:
        self._changed[key] = None

    @property
    def changed(self) -> bool:
        return bool(self._changed)

    # -- the store ---------------------------------------------------------------------------

    async def load(self, store: Store, session: Session | None, text: str | None) -> None:
        """The records this person's session points to, the invite a typed code names, what
        an invite leads to, and whether its maker has a concern on record (only that)."""
        keys = []
        if session is not None:
            keys += [pair_key(session.pair)] if session.pair else []
            keys += [invite_key(d) for d in (session.invite, session.joining) if d]
        self.typed = typed_code(text)
        if self.typed:
            keys.append(invite_key(self.typed))
        for key in keys:
            await self._load(store, key)
        for key in keys:
            invite = self.get(key) if key.startswith("invite:") else None
            if invite is None:
                continue
            if invite.get("pair"):
                await self._load(store, pair_key(invite["pair"]))
            maker = invite.get("inviter")
            if maker and maker != self.me and blocked(await store.load(maker)):
                self.blocked_people.add(maker)

    async def _load(self, store: Store, key: str) -> None:
        if key not in self._loaded:
            self._loaded[key] = await store.load(key)

    async def save(self, store: Store) -> None:
        """Every change, in the order made (an invite is marked used before the pair it
        leads to exists). Raises VersionConflict when a partner saved a record first."""
        for key, data in self._changed.items():
            stored = self._loaded.get(key)
            if data is None:
                if stored is not None:
                    await store.delete(key)
                continue
            carrier = stored.copy() if stored is not None else Session(key, "", "")
            carrier.record = data
            await store.save(carrier)
