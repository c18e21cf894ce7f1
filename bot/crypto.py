"""Encryption at rest for stored sessions: AES-256-GCM from `cryptography`.

Each row is sealed as: format byte, 4-byte key id, 12-byte random nonce, ciphertext and tag.
The user key is authenticated too (associated data), so a row copied onto another user fails
to open. (Fernet would do, but costs ten times as much per message: see `coach bench`.)

Keys come from COACH_SECRET_KEY (comma-separated, newest first), or from the file that
COACH_SECRET_KEY_FILE names (the same format; a Docker secret under /run/secrets, so the key
is in no environment and no volume), or, when neither is set, from a key file created on first
run beside the database (never inside it), readable by its owner only. Both variables set is
allowed only when they hold the same keys: two sources that disagree would leave the operator
guessing which one sealed the rows. Older keys keep decrypting until `coach keys rotate` has
re-encrypted every row.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENV_KEY = "COACH_SECRET_KEY"
ENV_KEY_FILE = "COACH_SECRET_KEY_FILE"
FORMAT = b"\x01"
NONCE = 12


class CipherKeyError(ValueError):
    """A configured key is not a valid key."""


class InvalidToken(ValueError):
    """A stored value cannot be opened with any configured key."""


def new_key() -> bytes:
    """32 random bytes, url-safe base64: the format COACH_SECRET_KEY and key files use."""
    return base64.urlsafe_b64encode(os.urandom(32))


@dataclass
class Cipher:
    keys: list[bytes]
    source: str
    _sealers: dict[bytes, AESGCM] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise CipherKeyError(f"{self.source}: no key")
        self._ids: list[bytes] = []
        for key in self.keys:
            try:
                raw = base64.urlsafe_b64decode(key)
            except (binascii.Error, ValueError) as exc:
                raise CipherKeyError(self._bad()) from exc
            if len(raw) != 32:
                raise CipherKeyError(self._bad())
            key_id = hashlib.sha256(raw).digest()[:4]
            self._ids.append(key_id)
            self._sealers[key_id] = AESGCM(raw)

    def _bad(self) -> str:
        return (f"{self.source}: not a valid key (expected url-safe base64 of 32 bytes, "
                "as `coach keys new` prints)")

    def encrypt(self, plain: str, owner: str) -> bytes:
        key_id = self._ids[0]
        nonce = os.urandom(NONCE)
        sealed = self._sealers[key_id].encrypt(nonce, plain.encode("utf-8"), owner.encode())
        return FORMAT + key_id + nonce + sealed

    def decrypt(self, blob: bytes, owner: str) -> str:
        if not isinstance(blob, bytes) or blob[:1] != FORMAT or len(blob) < 5 + NONCE + 16:
            raise InvalidToken("not an encrypted session")
        sealer = self._sealers.get(blob[1:5])
        if sealer is None:
            raise InvalidToken("sealed with a key that is not configured")
        try:
            plain = sealer.decrypt(blob[5:5 + NONCE], blob[5 + NONCE:], owner.encode())
        except InvalidTag as exc:
            raise InvalidToken("stored session failed authentication") from exc
        return plain.decode("utf-8")

    def rotate(self, blob: bytes, owner: str) -> bytes:
        """Re-encrypt under the newest key (whatever key it was written with)."""
        return self.encrypt(self.decrypt(blob, owner), owner)


def key_file_for(database: Path) -> Path:
    return database.with_name(database.name + ".key")


def _parse(text: str) -> list[bytes]:
    """Keys separated by commas or line breaks; lines starting with # are comments (which
    may hold commas)."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("#")]
    return [part.strip().encode("ascii") for part in ",".join(lines).split(",")
            if part.strip()]


def keys_configured() -> bool:
    """Whether the operator gives the keys ($COACH_SECRET_KEY or $COACH_SECRET_KEY_FILE),
    rather than the coach keeping a key file of its own."""
    return bool(os.environ.get(ENV_KEY, "").strip() or os.environ.get(ENV_KEY_FILE, "").strip())


def _keys_from_file(name: str) -> tuple[list[bytes], Path]:
    path = Path(name).expanduser()
    try:
        text = path.read_text(encoding="ascii")
    except OSError as error:
        raise CipherKeyError(f"${ENV_KEY_FILE}: cannot read {path}: "
                             f"{error.strerror or error}") from None
    except UnicodeDecodeError:
        raise CipherKeyError(f"${ENV_KEY_FILE}: {path} is not a key file (expected keys as "
                             "`coach keys new` prints them, one a line)") from None
    keys = _parse(text)
    if not keys:
        raise CipherKeyError(f"${ENV_KEY_FILE}: {path} holds no key")
    return keys, path


def configured_cipher() -> Cipher | None:
    """The cipher from $COACH_SECRET_KEY or $COACH_SECRET_KEY_FILE; None when neither is set.
    Both set: they must hold the same keys in the same order, else CipherKeyError (which
    names the variables, never a key)."""
    configured = os.environ.get(ENV_KEY, "").strip()
    file_name = os.environ.get(ENV_KEY_FILE, "").strip()
    if not file_name:
        return Cipher(_parse(configured), f"${ENV_KEY}") if configured else None
    keys, path = _keys_from_file(file_name)
    if configured and _parse(configured) != keys:
        raise CipherKeyError(f"${ENV_KEY} and ${ENV_KEY_FILE} are both set and hold different "
                             "keys; set only one of them")
    return Cipher(keys, f"${ENV_KEY_FILE} ({path})")


def load_cipher(database: Path, *, create: bool = True) -> Cipher:
    """The cipher for a database: the keys the operator set (configured_cipher), else the
    key file beside it."""
    configured = configured_cipher()
    if configured is not None:
        return configured
    path = key_file_for(database)
    if not path.exists():
        if not create:
            raise FileNotFoundError(path)
        write_key_file(path, [new_key()])
    return Cipher(_parse(path.read_text(encoding="ascii")), str(path))


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Written to a temporary file with mode 0600, then renamed over the old one."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write("# Conversation Coach store key: newest first. Keep it secret; without it\n"
                     "# the stored answers cannot be read.\n")
        handle.write("\n".join(k.decode("ascii") for k in keys) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
