"""The core's message types: what adapters hand in and what they get back."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class UserKey:
    """Who a session belongs to; frozen so it can key locks and stores safely."""

    platform: str
    user_id: str

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True)
class Incoming:
    """One platform event, reduced to what the core needs.

    Exactly one of `text` and `button` is normally set; `button` is the opaque id of a
    choice the core handed out earlier. `language` is what the platform says the person
    uses (Telegram's `language_code`, Discord's locale): a hint, taken only while the
    session has no language of its own.
    """

    user: UserKey
    text: str | None = None
    button: str | None = None
    private: bool = True
    update_id: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Choice:
    """A button: `id` goes back to the core unchanged, `label` is what the person sees."""

    id: str
    label: str


@dataclass(frozen=True)
class Attachment:
    """A file to hand to the user (an export, a picture). `text` says what a picture shows,
    in words, for adapters that cannot show pictures (the console prints it)."""

    filename: str
    mime_type: str
    data: bytes
    text: str | None = None

    @property
    def picture(self) -> bool:
        return self.mime_type.startswith("image/")


@dataclass
class Reply:
    """What the core answers: message parts in order, then the current step's controls.

    `notice` is a short line for button toasts (Telegram's answerCallbackQuery); adapters
    without toasts may ignore it, because the same information is in `parts`.

    `saved` is False when the step could not be committed (the store was busy or full):
    `parts` then only ask the person to send it again, and nothing of it was kept.

    `invite_code` is a couple-mode invite made in this step (its text is in `parts`):
    an adapter may add what its platform offers, such as a Telegram deep link.
    """

    parts: list[str] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    expects_text: bool = False
    max_length: int | None = None
    notice: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    duplicate: bool = False
    saved: bool = True
    invite_code: str | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(self.parts)
