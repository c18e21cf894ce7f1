"""The rules that turn what was typed about the partner into words said to them
(`Addressing`: "he texts" -> "you text") and back into the partner's own voice
(`PartnerView`: "you texting" -> "me texting"). Every word they know comes from the word
lists (bot/person_words.py, flows/core/person_words.yaml); only the method is here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from bot.quotes import straighten

if TYPE_CHECKING:
    from bot.person_words import PersonWords

WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*'?", re.UNICODE)
CONJUNCTIONS = frozenset({"and", "but", "or", "then"})
SUBJECTS = frozenset({"i", "we", "it", "who", "which", "you"})
SENTENCE_END = re.compile(r"[.!?;\n]")
Phrase = tuple[str, ...]


class _Words:
    """A text as words and the gaps around them (`gaps[i]` comes before `words[i]`), so
    words can be replaced while spaces and punctuation stay exactly as typed."""

    def __init__(self, words: PersonWords, text: str) -> None:
        self.lists = words
        self.words: list[str] = []
        self.gaps: list[str] = []
        end = 0
        for match in WORD.finditer(text):
            self.gaps.append(text[end:match.start()])
            self.words.append(match.group())
            end = match.end()
        self.gaps.append(text[end:])
        self.keys = [fold(word) for word in self.words]
        self.out: dict[int, str] = {}

    def key(self, index: int) -> str | None:
        return self.keys[index] if 0 <= index < len(self.keys) else None

    def broken_after(self, index: int) -> bool:
        """Whether punctuation (or the end) follows word `index`."""
        return index + 1 >= len(self.words) or bool(self.gaps[index + 1].strip())

    def match(self, index: int, phrases: Iterable[Phrase]) -> int:
        """The length of the longest phrase that starts at `index` (0: none)."""
        best = 0
        for phrase in phrases:
            size = len(phrase)
            if size > best and tuple(self.keys[index:index + size]) == phrase and all(
                    not self.gaps[index + n].strip() for n in range(1, size)):
                best = size
        return best

    def skip_adverbs(self, index: int) -> int:
        """The first word from `index` on that is not an adverb (nor "not")."""
        while index < len(self.words):
            size = self.match(index, self.lists.adverbs)
            key = self.keys[index]
            if not size and ((key.endswith("ly") and len(key) > 3) or key == "not"):
                size = 1
            if not size:
                return index
            index += size
        return index

    def put(self, index: int, new: str) -> None:
        self.out[index] = _cased(new, self.words[index], at_start=index == 0 and not
                                 self.gaps[0].strip())

    def joined(self) -> str:
        parts = [self.gaps[0]]
        for index, word in enumerate(self.words):
            parts += [self.out.get(index, word), self.gaps[index + 1]]
        return "".join(parts)


class Addressing(_Words):
    """One run of `to_partner` over one text."""

    def result(self) -> str | None:
        """The text addressed to the partner, or None to keep it as typed."""
        lists = self.lists
        if not self.words or any(key in lists.second_person for key in self.keys):
            return None
        start = self._after_leads()
        noun = self._partner_noun()
        first = self._pronoun(start) if start < len(self.words) else None
        if first is not None:
            if noun is not None:
                return None  # "he told my husband": two people
            group, form = first
            noun_span = None
        elif noun is not None:
            noun_span, group = noun
            form = "noun"
            if group is None:
                group = next((found[0] for i in range(noun_span[1], len(self.words))
                              if (found := self._pronoun(i))), None)
        else:
            return None
        if not self._clear(group, form, start, noun_span):
            return None
        if noun_span is not None:
            self._noun(*noun_span)
        for index in range(len(self.words)):
            found = self._pronoun(index)
            if index not in self.out and found and found[0] == group:
                self._replace(index, group)
        return self.joined() if self.out else None

    def _after_leads(self) -> int:
        index = 0
        while index < len(self.words):
            size = self.match(index, self.lists.leads)
            if not size:
                break
            index += size
        return index

    def _pronoun(self, index: int) -> tuple[str, str] | None:
        key = self.keys[index]
        found = self.lists.forms.get(key) or self.lists.forms.get(_subject_part(key) or "")
        if not found:
            return None
        form = found["form"] if key in self.lists.forms else "contraction"
        if found["group"] == "she" and form == "object" and not self._her_is_object(index):
            form = "possessive"
        return found["group"], form

    def _her_is_object(self, index: int) -> bool:
        """"her" the person ("calls her every night"; "her texting…" at the start), not
        "her phone"."""
        after = self.key(index + 1)
        return (self.broken_after(index) or after in self.lists.object_followers
                or (index == self._after_leads() and bool(after and after.endswith("ing"))))

    def _partner_noun(self) -> tuple[tuple[int, int], str | None] | None:
        """Where "my husband" (or "my husband's") is, and its pronoun group."""
        for index, key in enumerate(self.keys):
            if key != "my":
                continue
            keys = self.keys[index + 1:]
            for phrase, group in self.lists.nouns.items():
                size = len(phrase)
                head = list(keys[:size])
                if len(head) == size and head[-1].endswith("'s"):
                    head[-1] = head[-1][:-2]
                if tuple(head) == phrase:
                    return (index, index + 1 + size), group
        return None

    def _clear(self, group: str | None, form: str, start: int,
               noun: tuple[int, int] | None) -> bool:
        """Whether every pronoun of the group can only mean the partner."""
        lists = self.lists
        if noun is not None:
            before, after = self.key(noun[0] - 1), self.key(noun[1])
            if before in lists.unclear_neighbours or after in lists.unclear_neighbours:
                return False
            if after is not None and self.words[noun[1]][:1].isupper():
                return False  # "my husband Tom hides…": a name we would have to drop
        if group is None:
            return True
        for index in range(len(self.words)):
            found = self._pronoun(index)
            if found is None or found[0] != group:
                continue
            if found[1] == "object" and form != "object" and index != start:
                return False  # "he saw him": someone else of the same pronouns
            if found[1] in ("subject", "contraction") and group == "they" and self.key(
                    index + 1) in lists.plural_markers:
                return False
        return True

    def _noun(self, begin: int, end: int) -> None:
        last = self.keys[end - 1]
        for index in range(begin + 1, end):
            self.out[index] = ""
        self._squeeze(begin, end)
        if last.endswith("'s"):
            kind = self._s_kind(end)
            if kind == "possessive":
                self.put(begin, "your")
                return
            self.put(begin, "you've" if kind == "has" else "you're")
            return
        self.put(begin, "you")
        self._agree(end, "he")

    def _squeeze(self, begin: int, end: int) -> None:
        """The gaps inside a replaced phrase go with its words."""
        for index in range(begin + 1, end):
            self.gaps[index] = ""

    def _s_kind(self, index: int) -> str:
        """After "he's" or "my husband's": "has", "is" or (for nouns) "possessive"."""
        lists = self.lists
        first = self.key(index)
        after = self.skip_adverbs(index)
        verb = self.key(after)
        if verb and (verb in lists.has_participles or (
                verb.endswith("ed") and verb not in lists.is_adjectives)):
            return "has"
        if first is None or after != index or first in lists.is_followers or (
                first.endswith("ing")):
            return "is"
        return "possessive"

    def _replace(self, index: int, group: str) -> None:
        lists = self.lists
        key = self.keys[index]
        found = self._pronoun(index)
        if found is None:
            return
        form = found[1]
        if form == "contraction":
            tail = key[len(_subject_part(key) or ""):]
            if tail in ("'s", "s"):
                self.put(index, "you've" if self._s_kind(index + 1) == "has" else "you're")
            else:
                self.put(index, lists.contractions.get(tail, self.words[index]))
        elif form == "subject":
            self.put(index, "you")
            self._agree(index + 1, group)
        elif form == "object":
            self.put(index, "you")
        elif form == "possessive":
            standalone = group != "she" and self.broken_after(index)
            self.put(index, "yours" if standalone else "your")
        elif form == "standalone":
            self.put(index, "yours")
        else:
            self.put(index, "yourself")

    def _agree(self, index: int, group: str) -> None:
        """The verb after a new "you" agrees with it, and so does a second verb after
        "and" ("…texts her and hides his phone")."""
        verb = self.skip_adverbs(index)
        if verb >= len(self.words) or self.gaps[verb].strip():
            return
        changed = self._base(verb, group)
        if not changed or group == "they":
            return
        at = verb + 1
        while at < len(self.words) and not SENTENCE_END.search(self.gaps[at]):
            found = self._pronoun(at)
            if (found and found[1] in ("subject", "contraction")) or self.keys[at] in (
                    SUBJECTS):
                return
            if self.keys[at] in CONJUNCTIONS:
                second = self.skip_adverbs(at + 1)
                # "calls and texts her": two verbs side by side; else only with an object
                # after it, so that "his calls and texts" keeps its noun.
                if (at == verb + 1 or self.key(second + 1) in self.lists.second_verb_followers
                        ) and second < len(self.words) and not self.gaps[second].strip():
                    self._base(second, group)
            at += 1

    def _base(self, index: int, group: str) -> bool:
        """Put the "you" form of the verb at `index`; whether it changed."""
        lists = self.lists
        key = self.keys[index]
        table = lists.they_verbs if group == "they" else lists.verbs
        if key in table:
            self.put(index, table[key])
            return True
        if group == "they" or not _third_singular(key, lists.not_verbs):
            return False
        self.put(index, _drop_s(key))
        return True


class PartnerView(_Words):
    """One run of `partner_view` over one text: "you" and "I" swap places."""

    def result(self) -> str:
        lists = self.lists
        for index, key in enumerate(self.keys):
            if index in self.out:
                continue
            if key in ("you", "u"):
                self._you(index)
            elif key == "i":
                starts = index > 0 and bool(SENTENCE_END.search(self.gaps[index]))
                self.out[index] = "You" if starts else "you"
                self._verb(index + 1, lists.you_verbs)
            elif key in lists.swaps:
                self.put(index, lists.swaps[key])
        return self.joined()

    def _you(self, index: int) -> None:
        lists = self.lists
        before = None if index == 0 or self.gaps[index].strip() else self.keys[index - 1]
        after = self.skip_adverbs(index + 1)
        following = None if after >= len(self.words) or self.gaps[after].strip() or (
            self.gaps[index + 1].strip()) else self.keys[after]
        if (before in lists.object_before or following is None
                or following in lists.not_verbs_after_you or following.endswith("ing")):
            self.put(index, "me")
            return
        self.out[index] = "I"
        self._verb(index + 1, lists.i_verbs)

    def _verb(self, index: int, table: Mapping[str, str]) -> None:
        verb = self.skip_adverbs(index)
        if verb < len(self.words) and self.keys[verb] in table:
            self.put(verb, table[self.keys[verb]])


# -- small helpers ----------------------------------------------------------------------------


def fold(word: str) -> str:
    return straighten(word).casefold()


def _subject_part(key: str) -> str | None:
    """"he" in "he's", "they" in "they're" (and "hes" typed without the apostrophe)."""
    for subject in ("he", "she", "they"):
        tail = key[len(subject):]
        if key.startswith(subject) and tail in ("'s", "'d", "'ll", "'re", "'ve", "s") and (
                tail != "s" or subject != "they"):
            return subject
    return None


def _third_singular(key: str, not_verbs: frozenset[str]) -> bool:
    if key.endswith("'s") and len(key) > 3 and "'" not in key[:-2]:
        return True  # "she dm's guys"
    return (len(key) > 2 and key.endswith("s") and "'" not in key and key not in not_verbs
            and not key.endswith(("ss", "us", "is")))


def _drop_s(key: str) -> str:
    """texts → text, watches → watch, tries → try, goes → go, dm's → dm."""
    if key.endswith("'s"):
        return key[:-2]
    if key.endswith("ies") and len(key) > 4:
        return key[:-3] + "y"
    if key.endswith(("sses", "shes", "ches", "xes", "zzes", "oes")):
        return key[:-2]
    return key[:-1]


def _cased(new: str, old: str, *, at_start: bool) -> str:
    """`new` in the capitals of the word it replaces (lower-case at the very start: the
    answer finishes a sentence such as "I've noticed…"), with its kind of apostrophe."""
    if "’" in old:
        new = new.replace("'", "’")
    if new.startswith(("I ", "I'", "I’")) or new == "I":
        return new
    if len(old) > 1 and old.isupper():
        return new.upper()
    if old[:1].isupper() and not at_start:
        return new[:1].upper() + new[1:]
    return new


def strip_phrase(text: str, phrases: Iterable[Phrase]) -> str | None:
    """`text` without the longest phrase it starts with (whole words), or None."""
    folded = fold(text)
    for phrase in sorted(phrases, key=lambda p: len(" ".join(p)), reverse=True):
        pattern = r"\s*" + r"\s+".join(re.escape(word) for word in phrase) + r"(?![\w'])"
        match = re.match(pattern, folded)
        if match:
            rest = text[match.end():].lstrip(" \t\n,:;-–—…")
            if rest.strip(" .!?"):
                return rest
    return None
