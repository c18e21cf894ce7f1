"""The person's own words, turned to address their partner, and back into the partner's voice.

People answer "what have you noticed?" about the partner ("he texts his coworker every
night"), but openers say it TO the partner ("I've noticed you text your coworker every
night"). `to_partner` turns the partner's third person into "you" with the verbs agreeing;
`partner_view` lets the practice partner quote it as they would say it of themself ("me
texting my ex"). Only rules live here: every word they know is content, in
flows/core/person_words.yaml, loaded with the flows. Where who is meant is unclear ("he saw
him"), the words are kept as typed: a garbled quote hurts more than a plain one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bot.addressing import Addressing, PartnerView, Phrase, fold, strip_phrase
from bot.flowlang.context import StepContext
from bot.flowlang.datafiles import compiled
from bot.flowlang.registry import Registry

PERSON_WORDS_FILE = Path("core") / "person_words.yaml"
SERVICE = "person_words"
GROUPS = ("he", "she", "they")
FORMS = ("subject", "object", "possessive", "standalone", "reflexive")



@dataclass(frozen=True)
class PersonWords:
    """The word lists of flows/core/person_words.yaml, ready to match (folded keys)."""

    lead_ins: tuple[Phrase, ...]
    nouns: Mapping[Phrase, str | None]  # partner noun -> pronoun group (None: neutral)
    forms: Mapping[str, Mapping[str, str]]  # folded pronoun -> (group, form)
    contractions: Mapping[str, str]
    leads: tuple[Phrase, ...]
    adverbs: tuple[Phrase, ...]
    verbs: Mapping[str, str]
    they_verbs: Mapping[str, str]
    not_verbs: frozenset[str]
    has_participles: frozenset[str]
    is_adjectives: frozenset[str]
    is_followers: frozenset[str]
    object_followers: frozenset[str]
    second_verb_followers: frozenset[str]
    plural_markers: frozenset[str]
    unclear_neighbours: frozenset[str]
    second_person: frozenset[str]
    not_verbs_after_you: frozenset[str]
    object_before: frozenset[str]
    i_verbs: Mapping[str, str]
    you_verbs: Mapping[str, str]
    swaps: Mapping[str, str]
    # The languages these words are; other words are kept as typed, never swapped with these.
    languages: tuple[str, ...] = ("en",)

    def reads(self, lang: str | None) -> bool:
        return (lang or "en") in self.languages

    def to_partner(self, text: str) -> str:
        """`text` about the partner, said to them; unchanged where who is meant is unclear."""
        body = self.strip_lead_ins(text)
        return Addressing(self, body).result() or body

    def partner_view(self, text: str) -> str:
        """`text` said to the partner, as the partner says it of themself."""
        return PartnerView(self, text).result()

    def strip_lead_ins(self, text: str) -> str:
        """Without "I saw (that)…" and the like, which double an opener's "I've noticed"."""
        while True:  # each pass is shorter: it ends
            rest = strip_phrase(text, self.lead_ins)
            if rest is None:
                break
            rest = strip_phrase(rest, (("that",),)) or rest
            text = rest
        return text


def build_person_words(raw: Any) -> PersonWords:
    """The word lists from the file's data; a missing or misshapen list raises (and the
    flows check reports the file), since there is no default to fall back on."""
    if not isinstance(raw, dict):
        raise ValueError("the person words file must be a mapping")
    forms: dict[str, tuple[str, str]] = {}
    for group in GROUPS:
        table = _mapping(raw["pronouns"], group)
        for form in FORMS:
            for word in _words(table[form]):
                forms.setdefault(word, (group, form))
    nouns: dict[Phrase, str | None] = {}
    table = _mapping(raw, "partner_nouns")
    for group in (group for group in (*GROUPS, "neutral") if group in table):
        for phrase in _phrases(table[group]):
            nouns[phrase] = None if group == "neutral" else group
    return PersonWords(
        lead_ins=_phrases(raw["lead_ins"]),
        nouns=nouns,
        forms={word: {"group": g, "form": f} for word, (g, f) in forms.items()},
        contractions=_pairs(raw, "contractions"),
        leads=_phrases(raw["leads"]),
        adverbs=_phrases(raw["adverbs"]),
        verbs=_pairs(raw, "verbs"),
        they_verbs=_pairs(raw, "they_verbs"),
        **{name: frozenset(_words(raw[name])) for name in (
            "not_verbs", "has_participles", "is_adjectives", "is_followers",
            "object_followers", "second_verb_followers", "plural_markers",
            "unclear_neighbours", "second_person", "not_verbs_after_you", "object_before")},
        i_verbs=_pairs(raw, "i_verbs"),
        you_verbs=_pairs(raw, "you_verbs"),
        swaps=_pairs(raw, "swaps"),
        languages=tuple(_words(raw.get("languages") or ["en"])),
    )


load_person_words = compiled(build_person_words)


@cache
def shipped() -> PersonWords:
    """The shipped word lists, for callers without a catalog (tools, tests)."""
    from bot.paths import shipped_flows

    words, problems = load_person_words(shipped_flows() / PERSON_WORDS_FILE)
    if words is None:
        raise ValueError(f"{PERSON_WORDS_FILE}: {problems}")
    return words


entries = Registry()


@entries.address("partner", "what the person typed about their partner, said to the partner "
                            "(\"he texts\" is kept as \"you text\")", needs=SERVICE)
def address_partner(ctx: StepContext, text: str) -> str:
    words = ctx.services.get(SERVICE)
    if not isinstance(words, PersonWords) or not words.reads(ctx.session.lang):
        return text  # words in another language are kept as typed, not turned with English
    return words.to_partner(text)


def to_partner(text: str, words: PersonWords | None = None) -> str:
    """What the person typed about their partner, said to the partner."""
    return (words or shipped()).to_partner(text)


def partner_view(text: str, words: PersonWords | None = None) -> str:
    """What the person said to the partner, as the partner would say it of themself."""
    return (words or shipped()).partner_view(text)


def _words(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item.strip() for item in items):
        raise ValueError(f"expected a word or a list of words, got {value!r}")
    return [fold(item.strip()) for item in items]


def _phrases(value: Any) -> tuple[Phrase, ...]:
    return tuple(tuple(item.split()) for item in _words(value))


def _mapping(raw: Any, key: str) -> dict:
    value = raw[key] if isinstance(raw, dict) else None
    if not isinstance(value, dict):
        raise ValueError(f"'{key}' must be a mapping")
    return value


def _pairs(raw: Any, key: str) -> dict[str, str]:
    table = _mapping(raw, key)
    if not all(isinstance(v, str) for v in table.values()):
        raise ValueError(f"every value in '{key}' must be text")
    return {fold(str(k)): str(v) for k, v in table.items()}
