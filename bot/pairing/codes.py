"""Invite codes: short enough to type on a phone, too many to guess, stored only as a hash.

The alphabet leaves out letters and digits that look alike (0/O, 1/I/L), and a code is read
in any capitals, with or without its dashes or spaces, so what a person types from a screen
still works. Twelve characters from 31 give about 8 * 10^17 codes: an unused one cannot be
found by trying, and the hash in a store key does not give it back.
"""

from __future__ import annotations

import hashlib
import re
import secrets

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 12
GROUP = 4
DEEP_LINK_PREFIX = "pair-"  # `/start pair-<code>`: how a Telegram deep link arrives
_LOOSE = re.compile(r"[\s\-_.]+")


def new_code() -> str:
    """A fresh code, in groups of four (ABCD-EFGH-JKMN)."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i:i + GROUP] for i in range(0, LENGTH, GROUP))


def normal(typed: str) -> str | None:
    """The code a person typed, as issued without dashes; None when it cannot be one."""
    raw = _LOOSE.sub("", typed.strip()).upper()
    if raw.startswith(DEEP_LINK_PREFIX.strip("-").upper()) and len(raw) == LENGTH + 4:
        raw = raw[4:]
    if len(raw) != LENGTH or any(ch not in ALPHABET for ch in raw):
        return None
    return raw


def code_hash(typed: str) -> str | None:
    """What is stored instead of the code (None when the text is no code)."""
    raw = normal(typed)
    return hashlib.sha256(raw.encode("ascii")).hexdigest() if raw else None


def link_payload(code: str) -> str:
    """The deep-link payload for a code: letters, digits and `-` only, as Telegram allows."""
    return DEEP_LINK_PREFIX + code
