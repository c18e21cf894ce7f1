"""Conversation transcripts: scripted chats played through the real core (`coach flows test`).

A transcript says what a person sends and what the coach must answer. Playing it against the
flows catches a wording or routing change that breaks a path before a real person meets it.
Everything here is platform-free: the core is driven exactly as an adapter drives it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.flowlang.catalog import Catalog
from bot.flowlang.errors import did_you_mean
from bot.flowlang.source import SourceDoc, parse_source
from bot.messages import Choice, Incoming, Reply, UserKey
from bot.pipeline import Coach
from bot.quotes import straighten
from bot.store.memory import MemoryStore

PLATFORM = "transcript"
GOT_CHARS = 200
TRANSCRIPT_KEYS = ("name", "description", "user", "lang", "people", "config", "turns")
ACTIONS = ("send", "press", "open")
EXPECTATIONS = ("expect", "expect_not", "expect_buttons", "expect_pattern")
TURN_KEYS = ("as", *ACTIONS, *EXPECTATIONS)
CODE = "${code}"  # in `send`: the last invite code any reply of this transcript carried
NOT_A_TRANSCRIPT = "a transcript file must be a mapping with 'turns' (or a list of such mappings)"
_BLANKS = re.compile(r"\s+")
_WRITTEN = re.compile(r"[^\s,\]}]+")  # a plain number or true/false, as written in the file

KeyPath = tuple[Any, ...]


@dataclass(frozen=True, order=True)
class Problem:
    """A transcript file that cannot be used, reported where the counsellor can find it."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Turn:
    """One thing the person does, and what the coach's answer must (not) contain."""

    number: int
    line: int
    send: str | None = None
    press: str | None = None
    open: bool = False
    person: str | None = None  # `as:` one of the transcript's people
    expect: tuple[str, ...] = ()
    expect_not: tuple[str, ...] = ()
    expect_buttons: tuple[str, ...] = ()
    expect_pattern: tuple[re.Pattern[str], ...] = ()

    def describe(self) -> str:
        """How the turn reads in --show output and failure messages."""
        who = f"{self.person}: " if self.person else ""
        return who + self._action()

    def _action(self) -> str:
        if self.open:
            return "(opens the chat)"
        if self.press is not None:
            return f"[press] {self.press}"
        return self.send or ""


@dataclass(frozen=True)
class Transcript:
    name: str
    path: str
    line: int
    turns: tuple[Turn, ...]
    user: str | None = None
    config: Mapping[str, str] = field(default_factory=dict)
    people: Mapping[str, str] = field(default_factory=dict)  # name -> platform
    lang: str | None = None  # the language the person's chat app says they use (`es`)


@dataclass
class Outcome:
    """What playing one transcript gave: a failure message, or None, plus what was said."""

    transcript: Transcript
    failure: str | None = None
    trace: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failure is None

    def summary(self) -> str:
        name = self.transcript.name
        return f"PASS {name}" if self.failure is None else f"FAIL {name}: {self.failure}"


# -- loading ------------------------------------------------------------------------------


class _Source:
    """A transcript file read by the flows' own YAML reader (duplicate keys and looping
    aliases are problems with a line), with what problems and texts need from it."""

    def __init__(self, doc: SourceDoc, text: str) -> None:
        self.doc = doc
        self.path = doc.path
        self.lines = text.splitlines()

    def line(self, at: KeyPath, *, key: bool = False) -> int:
        return self.doc.pos(at, key=key)[0]

    def problem(self, at: KeyPath, message: str, *, key: bool = False) -> Problem:
        return Problem(self.path, self.line(at, key=key), message)

    def text(self, value: Any, at: KeyPath) -> str | None:
        """YAML reads `12`, `007` and `true` as other types; a transcript means the words,
        so those are read back as they are written in the file."""
        if isinstance(value, str):
            return value
        if isinstance(value, bool | int | float) and at in self.doc.where:
            line, column = self.doc.where[at]
            written = _WRITTEN.match(self.lines[line - 1], column - 1)
            return written.group() if written else str(value)
        return None


def parse_transcripts(text: str, path: str) -> tuple[list[Transcript], list[Problem]]:
    """Every transcript in one file's text, or the problems that make it unusable."""
    if all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        return [], [Problem(path, 1, NOT_A_TRANSCRIPT)]
    doc, broken = parse_source(text, path)
    if doc is None or broken:
        return [], [Problem(p.path, p.line, p.message) for p in broken]
    source = _Source(doc, text)
    data = doc.data
    stem = Path(path).stem
    if isinstance(data, dict):
        items: list[tuple[KeyPath, Any, str]] = [((), data, stem)]
    elif isinstance(data, list) and data:
        items = [((index,), item, f"{stem}-{index + 1}") for index, item in enumerate(data)]
    else:
        return [], [Problem(path, 1, NOT_A_TRANSCRIPT)]
    transcripts: list[Transcript] = []
    problems: list[Problem] = []
    for at, item, default_name in items:
        transcript = _transcript(source, item, at, default_name, problems)
        if transcript is not None:
            transcripts.append(transcript)
    return transcripts, problems


def _transcript(
    source: _Source, data: Any, at: KeyPath, default_name: str, problems: list[Problem]
) -> Transcript | None:
    if not isinstance(data, dict):
        problems.append(source.problem(at, "each transcript must be a mapping with 'turns'"))
        return None
    found = len(problems)
    _unknown_keys(source, data, at, TRANSCRIPT_KEYS, "transcript", problems)
    name = default_name
    if "name" in data:
        name = source.text(data["name"], (*at, "name")) or ""
        if not name.strip():
            problems.append(source.problem((*at, "name"), "'name' must be text"))
    user = None
    if data.get("user") is not None:
        user = source.text(data["user"], (*at, "user"))
        if not user:
            problems.append(source.problem((*at, "user"), "'user' must be text"))
    lang = None
    if data.get("lang") is not None:
        lang = source.text(data["lang"], (*at, "lang"))
        if not lang:
            problems.append(source.problem((*at, "lang"), "'lang' must be a language code"))
    config: dict[str, str] = {}
    raw_config = data.get("config") or {}
    if not isinstance(raw_config, dict):
        problems.append(source.problem((*at, "config"), "'config' must map names to values"))
    else:
        for key, value in raw_config.items():
            config[str(key)] = source.text(value, (*at, "config", key)) or str(value)
    people = _people(source, data, at, problems)
    raw_turns = data.get("turns")
    if not isinstance(raw_turns, list) or not raw_turns:
        problems.append(source.problem((*at, "turns") if "turns" in data else at,
                                       "'turns' must be a non-empty list of turns"))
        return None
    turns = [_turn(source, raw, (*at, "turns", index), index + 1, problems)
             for index, raw in enumerate(raw_turns)]
    for index, turn in enumerate(turns):
        if turn is not None and turn.person is not None and turn.person not in people:
            known = ", ".join(people) or "none: add 'people' to the transcript"
            problems.append(source.problem((*at, "turns", index, "as"),
                                           f"'as: {turn.person}' is not one of the people "
                                           f"({known})"))
    if len(problems) > found:
        return None
    return Transcript(name.strip(), source.path, source.line(at), tuple(t for t in turns if t),
                      user, config, people, lang)


def _people(source: _Source, data: dict, at: KeyPath,
            problems: list[Problem]) -> dict[str, str]:
    """`people: {alex: telegram, sam: discord}`: who takes part, each on a platform."""
    raw = data.get("people") or {}
    people = {str(k): source.text(v, (*at, "people", k)) or "" for k, v in raw.items()} \
        if isinstance(raw, dict) else {}
    if not isinstance(raw, dict) or not all(people.values()):
        problems.append(source.problem((*at, "people"), "'people' must map each name to a "
                                                        "platform, such as {alex: telegram}"))
    return people


def _turn(
    source: _Source, data: Any, at: KeyPath, number: int, problems: list[Problem]
) -> Turn | None:
    if not isinstance(data, dict):
        problems.append(source.problem(at, f"turn {number} must be a mapping such as "
                                           "{send: /start, expect: Hi}"))
        return None
    _unknown_keys(source, data, at, TURN_KEYS, f"turn {number}", problems)
    given = [key for key in ACTIONS if key in data]
    if len(given) != 1:
        what = "none" if not given else " and ".join(given)
        problems.append(source.problem(at, f"turn {number} needs exactly one of send, press "
                                           f"or open (found {what})"))
        return None
    action = given[0]
    value = data[action]
    if action == "open":
        if value is not True:
            problems.append(source.problem((*at, "open"), "write 'open: true'"))
            return None
        words = None
    else:
        words = source.text(value, (*at, action))
        if words is None or (action == "press" and not words.strip()):
            problems.append(source.problem((*at, action), f"'{action}' must be text"))
            return None
    lists = {key: _strings(source, data, at, key, problems) for key in EXPECTATIONS}
    patterns: list[re.Pattern[str]] = []
    for pattern in lists["expect_pattern"]:
        try:
            patterns.append(re.compile(pattern))
        except re.error as error:
            problems.append(source.problem((*at, "expect_pattern"),
                                           f"'{pattern}' is not a valid pattern: {error}"))
    person = source.text(data["as"], (*at, "as")) if "as" in data else None
    return Turn(
        number, source.line(at),
        send=words if action == "send" else None,
        press=words if action == "press" else None,
        open=action == "open",
        person=person,
        expect=lists["expect"], expect_not=lists["expect_not"],
        expect_buttons=lists["expect_buttons"], expect_pattern=tuple(patterns),
    )


def _strings(
    source: _Source, data: dict, at: KeyPath, key: str, problems: list[Problem]
) -> tuple[str, ...]:
    if key not in data:
        return ()
    raw = data[key]
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for index, item in enumerate(items):
        where = (*at, key, index) if isinstance(raw, list) else (*at, key)
        text = source.text(item, where)
        if text is None or not text.strip():
            problems.append(source.problem(where, f"'{key}' must be text or a list of texts"))
        else:
            out.append(text)
    return tuple(out)


def _unknown_keys(
    source: _Source, data: dict, at: KeyPath, allowed: Sequence[str], what: str,
    problems: list[Problem],
) -> None:
    for key in data:
        if key not in allowed:
            problems.append(source.problem((*at, key), f"unknown key '{key}' in {what}"
                                                       f"{did_you_mean(str(key), allowed)}",
                                           key=True))


def transcript_files(paths: Iterable[Path]) -> list[Path]:
    """The *.yaml / *.yml files among the given files and folders (folders searched deeply)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")
                                and p.is_file()))
        else:
            files.append(path)
    return files


def load_transcripts(paths: Iterable[Path]) -> tuple[list[Transcript], list[Problem]]:
    """All transcripts under the given paths; names must be unique so results can be told apart."""
    transcripts: list[Transcript] = []
    problems: list[Problem] = []
    seen: dict[str, Transcript] = {}
    for path in transcript_files(paths):
        shown = _shown(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            problems.append(Problem(shown, 1, f"cannot read file: {error}"))
            continue
        found, broken = parse_transcripts(text, shown)
        problems.extend(broken)
        for transcript in found:
            if transcript.name in seen:
                other = seen[transcript.name]
                problems.append(Problem(shown, transcript.line, f"duplicate transcript name "
                                        f"'{transcript.name}' (also {other.path}:{other.line})"))
                continue
            seen[transcript.name] = transcript
            transcripts.append(transcript)
    return transcripts, problems


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# -- playing ------------------------------------------------------------------------------


def _normal(text: str) -> str:
    """Compare as a reader would: ignore case, line breaks and the style of quotes."""
    return _BLANKS.sub(" ", straighten(text)).casefold().strip()


def _flat(reply: Reply) -> str:
    labels = " ".join(f"[{choice.label}]" for choice in reply.choices)
    text = _BLANKS.sub(" ", reply.text).strip()
    return f"{text} {labels}".strip()


def _got(reply: Reply) -> str:
    flat = _flat(reply)
    return flat if len(flat) <= GOT_CHARS else flat[:GOT_CHARS] + "…"


def find_choice(reply: Reply | None, label: str) -> tuple[Choice | None, str | None]:
    """The button with this label: exact, then ignoring case, then by a unique beginning."""
    if reply is None or not reply.choices:
        return None, f'no buttons to press "{label}" on; the last reply offered none'
    choices = reply.choices
    for match in (
        lambda c: c.label == label,
        lambda c: _normal(c.label) == _normal(label),
        lambda c: _normal(c.label).startswith(_normal(label)),
    ):
        found = [c for c in choices if match(c)]
        if len(found) == 1:
            return found[0], None
        if len(found) > 1:
            names = ", ".join(f'"{c.label}"' for c in found)
            return None, f'"{label}" matches more than one button: {names}'
    offered = ", ".join(f'"{c.label}"' for c in choices)
    return None, f'no button "{label}" in the last reply; buttons were: {offered}'


def check_reply(turn: Turn, reply: Reply) -> str | None:
    """The first expectation the reply does not meet, as a message; None when all hold."""
    haystack = _normal(reply.text + "\n" + "\n".join(c.label for c in reply.choices))
    for wanted in turn.expect:
        if _normal(wanted) not in haystack:
            return f'expected "{wanted}" in reply; got: {_got(reply)}'
    for unwanted in turn.expect_not:
        if _normal(unwanted) in haystack:
            return f'expected "{unwanted}" not in reply; got: {_got(reply)}'
    labels = [_normal(c.label) for c in reply.choices]
    for button in turn.expect_buttons:
        if _normal(button) not in labels:
            offered = ", ".join(f'"{c.label}"' for c in reply.choices) or "none"
            return f'expected button "{button}"; buttons were: {offered}'
    flat = reply.text + "\n" + "\n".join(c.label for c in reply.choices)
    for pattern in turn.expect_pattern:
        if not pattern.search(flat):
            return f"expected pattern /{pattern.pattern}/ in reply; got: {_got(reply)}"
    return None


async def play(transcript: Transcript, catalog: Catalog) -> Outcome:
    """Play one transcript on a fresh in-memory store, stopping at the first failed turn."""
    coach = Coach(catalog, MemoryStore(), config=transcript.config)
    default = UserKey(PLATFORM, transcript.user or transcript.name)
    users = {name: UserKey(platform, name) for name, platform in transcript.people.items()}
    outcome = Outcome(transcript)
    lang = transcript.lang
    lasts: dict[UserKey, Reply | None] = {}
    code = ""
    for turn in transcript.turns:
        user = users[turn.person] if turn.person else default
        last = lasts.get(user)
        if turn.open:
            reply = await coach.open(Incoming(user, language=lang))
        elif turn.press is not None:
            choice, error = find_choice(last, turn.press)
            if choice is None:
                outcome.failure = f"turn {turn.number}: {error}"
                return outcome
            reply = await coach.handle(Incoming(user, button=choice.id, language=lang))
        else:
            text = (turn.send or "").replace(CODE, code)
            reply = await coach.handle(Incoming(user, text=text, language=lang))
        code = reply.invite_code or code
        outcome.trace.append(f"> {turn.describe()}")
        outcome.trace.extend(_shown_reply(reply))
        failure = check_reply(turn, reply)
        if failure is not None:
            outcome.failure = f"turn {turn.number}: {failure}"
            return outcome
        lasts[user] = reply
    return outcome


def _shown_reply(reply: Reply) -> list[str]:
    lines = ["  " + line for part in reply.parts for line in part.splitlines()]
    lines += [f"  [{n}] {c.label}" for n, c in enumerate(reply.choices, start=1)]
    return lines


async def play_all(transcripts: Iterable[Transcript], catalog: Catalog) -> list[Outcome]:
    return [await play(transcript, catalog) for transcript in transcripts]
