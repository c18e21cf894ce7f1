"""Encryption at rest for stored sessions: AES-256-GCM from `cryptography`.

Two layers, so that erasing a person can be done by forgetting 32 bytes (crypto-shredding):
each person's session is sealed with their own random data key (format 2: format byte, 12-byte
nonce, ciphertext and tag), and that data key is kept wrapped by the store key (format byte,
4-byte key id, nonce, sealed key) apart from the data. Rows written before data keys existed
are sealed with the store key directly (format 1, the wrapped layout) and still open. The
user key is authenticated too (associated data), so a row or a wrapped key copied onto
another user fails to open. (Fernet would do, but costs ten times as much per message.)

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
FORMAT = b"\x01"  # sealed with a store key: a format-1 row, or a wrapped data key
PERSON_FORMAT = b"\x02"  # a session sealed with its person's data key
NONCE = 12
TAG = 16
# Associated data of a wrapped data key, before the user key: a wrapped key never opens as a
# session, nor a session as a key.
WRAPPED_KEY = b"coach-person-key\x00"


class CipherKeyError(ValueError):
    """A configured key is not a valid key."""


class InvalidToken(ValueError):
    """A stored value cannot be opened with any configured key."""


def new_key() -> bytes:
    """32 random bytes, url-safe base64: the format COACH_SECRET_KEY and key files use."""
    return base64.urlsafe_b64encode(os.urandom(32))


class DataKey:
    """One person's data key, unwrapped, with the wrapped form it was stored as (which says
    whether the stored key is still this one). `new`: made here, not stored yet."""

    __slots__ = ("_sealer", "new", "wrapped")

    def __init__(self, raw: bytes, wrapped: bytes, *, new: bool = False) -> None:
        self._sealer = AESGCM(raw)
        self.wrapped = wrapped
        self.new = new

    def seal(self, plain: str, owner: str) -> bytes:
        nonce = os.urandom(NONCE)
        return PERSON_FORMAT + nonce + self._sealer.encrypt(nonce, plain.encode("utf-8"),
                                                            owner.encode())

    def open(self, blob: bytes, owner: str) -> str:
        if blob[:1] != PERSON_FORMAT or len(blob) < 1 + NONCE + TAG:
            raise InvalidToken("not a session sealed with a data key")
        try:
            plain = self._sealer.decrypt(blob[1:1 + NONCE], blob[1 + NONCE:], owner.encode())
        except InvalidTag as exc:
            raise InvalidToken("stored session failed authentication") from exc
        return plain.decode("utf-8")


def person_sealed(blob: bytes | str) -> bool:
    """Whether a stored value is sealed with a person's data key (else: with a store key,
    or plain text in an unencrypted test store)."""
    return isinstance(blob, bytes) and blob[:1] == PERSON_FORMAT


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

    @property
    def key_id(self) -> str:
        """The newest key's id (hex), which everything sealed from now on carries."""
        return self._ids[0].hex()

    def _seal(self, plain: bytes, associated: bytes) -> bytes:
        key_id = self._ids[0]
        nonce = os.urandom(NONCE)
        return FORMAT + key_id + nonce + self._sealers[key_id].encrypt(nonce, plain, associated)

    def _open(self, blob: bytes, associated: bytes) -> bytes:
        if not isinstance(blob, bytes) or blob[:1] != FORMAT or len(blob) < 5 + NONCE + TAG:
            raise InvalidToken("not sealed with a store key")
        sealer = self._sealers.get(blob[1:5])
        if sealer is None:
            raise InvalidToken("sealed with a key that is not configured")
        try:
            return sealer.decrypt(blob[5:5 + NONCE], blob[5 + NONCE:], associated)
        except InvalidTag as exc:
            raise InvalidToken("stored value failed authentication") from exc

    def encrypt(self, plain: str, owner: str) -> bytes:
        """A format-1 value: sealed with the store key itself (rows before data keys)."""
        return self._seal(plain.encode("utf-8"), owner.encode())

    def decrypt(self, blob: bytes, owner: str) -> str:
        return self._open(blob, owner.encode()).decode("utf-8")

    def new_data_key(self, owner: str) -> DataKey:
        """A fresh random data key for one person, wrapped under the newest store key."""
        raw = os.urandom(32)
        return DataKey(raw, self.wrap(raw, owner), new=True)

    def wrap(self, raw: bytes, owner: str) -> bytes:
        return self._seal(raw, WRAPPED_KEY + owner.encode())

    def unwrap(self, wrapped: bytes, owner: str) -> DataKey:
        """The data key `wrapped` holds, under whichever configured store key wrapped it."""
        return DataKey(self._open(bytes(wrapped), WRAPPED_KEY + owner.encode()), bytes(wrapped))

    def rewrap(self, wrapped: bytes, owner: str) -> bytes | None:
        """The same data key wrapped under the newest store key; None when it already is."""
        wrapped = bytes(wrapped)
        if wrapped[1:5] == self._ids[0]:
            return None
        return self.wrap(self._open(wrapped, WRAPPED_KEY + owner.encode()), owner)

    @staticmethod
    def wrapped_key_id(wrapped: bytes) -> str:
        return bytes(wrapped)[1:5].hex()


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


def cipher_from_text(text: str, source: str) -> Cipher:
    """Keys written as in COACH_SECRET_KEY (comma-separated, newest first)."""
    return Cipher(_parse(text), source)


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
