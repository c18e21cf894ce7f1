"""Deterministic, rule-based safety screen for every user message.

Why rules instead of a model: the result must be explainable (each flag names the rule that
fired), reproducible in tests, and cheap enough to run on every message. All word lists and
patterns live in ``flows/safety/screen_rules.yaml`` so they can be reviewed without reading code.

Pipeline: normalise text -> mask idioms ("this is killing me") -> run rules -> drop matches
that are negated ("he has never hit me") or lack the right subject ("it hit me" vs "he hit
me") -> keep the strongest match (risk > unsure, then self_harm > violence > coercive_control).

Rules name particular ways of saying a thing, and people disclose in endless ways. So when no
rule fires, a second stage looks for families of signals (for self-harm: preparations, means,
finality...) and asks gently when two different families of one category appear together:
"wrote my will ... picked a date" is neither alone, but both together are worth a question.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass

from bot.quotes import QUOTES
from bot.safety.in_setting import LEARNED_PREFIX, lowered
from bot.safety.prefilter import grams
from bot.safety.screen_rules import (
    CATEGORIES,
    RULES_PATH,
    Rule,
    RuleSet,
    SignalFamily,
    load_rules,
)
from bot.setting import NO_SETTING, Setting
from bot.understanding.examples import shipped_reader
from bot.understanding.learned import LearnedReader

__all__ = ["CATEGORIES", "RISK_LEVELS", "RULES_PATH", "ScreenResult", "load_rules", "screen"]

log = logging.getLogger(__name__)

LEARNED = "screen_learned"  # the learned stage, offered under this name (bot/app.py)
NO_MATCH = "no_match"
# The rule ids of the rules' clearings of a risk's own words (_evaluate), which the learned
# stage reads past at a strong lead. An idiom's clearing stands: it is the whole figure of
# speech ("break a leg"), and a resemblance to violence is exactly what it rules out.
CLEARED_BY_WORDS = ("negated:", "reassured:")
UNREAD = "unread_language"
RENAMED = ">"  # "coercive_control.if_i_then>violence": the rule that fired, then the name read
EXAMPLES_FILE = "safety/screen_examples.yaml"
RISK_LEVELS = ("none", "unsure", "risk")
LABELS = ("none", "violence", "coercive_control", "self_harm")  # the learned stage's
# When several rules fire at the same risk level the most urgent category wins.
CATEGORY_PRIORITY = {"self_harm": 3, "violence": 2, "coercive_control": 1, "none": 0}

_WORD_RE = re.compile(r"[^\W_]+")
_LETTER = re.compile(r"[^\W\d_]")
# Where the words a negation or a reassurance cleared end: a sentence, or a turn to something
# else ("he's never hit me, he just has my bank card"; "I'm not scared of him, but ...").
_CLAUSE_BREAK = re.compile(r"[.!?;\n]+|,?\s*\b(?:but|just|though|although|except|only)\b",
                           re.IGNORECASE)
_AND = re.compile(r"\band\b")


@dataclass(frozen=True)
class ScreenResult:
    """Outcome of screening one message; never contains the message text."""

    risk: str
    category: str
    rule: str

    @property
    def is_flagged(self) -> bool:
        """True for "risk" and "unsure": both make the bot check in on safety."""
        return self.risk != "none"

    def to_dict(self) -> dict[str, str]:
        """Plain dict for logging and JSON output."""
        return {"risk": self.risk, "category": self.category, "rule": self.rule}



# --------------------------------------------------------------------------- normalising


def _translation_table() -> dict[int, str]:
    """Curly quotes to straight; control and zero-width characters to spaces or nothing."""
    table: dict[int, str] = {ord(k): v for k, v in QUOTES.items()}
    # Line breaks count as spaces, not sentence ends: "i want to\ndie" must still match.
    for code in [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]:
        table[code] = " "
    for code in (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD):
        table[code] = ""
    table[ord("'")] = ""  # "don't" -> "dont", so texting style and proper style match alike
    table[ord('"')] = " "  # quoted speech reads as plain speech: he said "ill kill you"
    return table


_TABLE = _translation_table()
_SPACES = re.compile(r"\s+")


def normalise(text: str, max_chars: int = 20_000) -> str:
    """Cap, fold case, straighten quotes, drop apostrophes and collapse whitespace."""
    text = unicodedata.normalize("NFKC", text[:max_chars])
    text = text.translate(_TABLE).casefold().translate(_TABLE)
    # NFKC and casefold can lengthen text ("ﬃ" -> "ffi"), so cap again.
    return _SPACES.sub(" ", text[: max_chars * 2]).strip()


# --------------------------------------------------------------------------- context checks


def _before(text: str, pos: int, boundary: re.Pattern[str], span: int) -> list[str]:
    """Words between the last boundary and ``pos`` (bounded lookback keeps this cheap)."""
    chunk = text[max(0, pos - span):pos]
    return _WORD_RE.findall(boundary.split(chunk)[-1])


def _after(text: str, pos: int, boundary: re.Pattern[str], span: int) -> list[str]:
    chunk = text[pos:pos + span]
    return _WORD_RE.findall(boundary.split(chunk)[0])


def _anchor(match: re.Match[str]) -> tuple[int, int]:
    """The trigger word: group "t" when the pattern names one, else the whole match."""
    for name in match.re.groupindex:
        if name[0] == "t" and match.start(name) >= 0:
            return match.start(name), match.end(name)
    return match.start(), match.end()


def _is_negated(text: str, match: re.Match[str], rs: RuleSet) -> bool:
    """Odd number of negation cues just before the trigger, and no "before"/"until"/"again"
    after it ("he's never hit me before last night" stays a risk)."""
    start, end = _anchor(match)
    clause = _before(text, start, rs.clause_boundary, rs.context_chars)
    if not clause:
        return False
    before = " ".join(clause)
    near = len(" ".join(clause[:-rs.negation_window])) if len(clause) > rs.negation_window else 0
    # The trigger word is appended only so hedges like "cant stop <trigger>" can be seen.
    probe = f"{before} {' '.join(_WORD_RE.findall(text[start:end])[:1])}"
    cues = [m.start() for m in rs.negation_cue.finditer(probe) if m.start() < len(before)]
    # A cue must sit right before the trigger; double negatives in the clause cancel out
    # ("I'm not saying he never hit me"), but only within one thought: cues before an "and"
    # belong to another one ("I'm not in danger and I'm not thinking of hurting myself").
    thought = max((m.end() for m in _AND.finditer(before)), default=0)
    cues = [pos for pos in cues if pos >= thought]
    if not any(pos >= near for pos in cues) or len(cues) % 2 == 0:
        return False
    tail = _after(text, end, rs.clause_boundary, rs.context_chars)[:rs.breaker_window]
    return not rs.negation_breaker.search(" ".join(tail))


def _subject_ok(text: str, match: re.Match[str], rule: Rule, rs: RuleSet) -> bool:
    """Check the nearest subject word before the trigger (so "hell hurt me" counts "hell").

    partner: nearest of partner/self/other words must be a partner word ("he checks my phone",
    not "I check my phone"); "you" counts, since rehearsal lines speak to the partner.
    partner_named: the same without "you". agent: someone else acts on the user: the user's
    own pronouns are skipped and other people count ("he hit me", "my dad hit me", not "it
    hit me"). not_self: anything but the user ("tracks my location", but not "I want to track
    my progress"). self: the user or no subject at all ("not allowed out", but not "shes not
    allowed to have tinder").
    """
    mode = rule.subject
    words = _before(text, _anchor(match)[0], rs.sentence_boundary, rs.context_chars)
    # An agent may sit further back: "my husband of twenty years has, on more than one
    # occasion, struck me" (only partner words count there, so a wider window is safe).
    window = rs.subject_window * (2 if mode == "agent" else 1)
    for word in reversed(words[-window:]):
        if word in rs.self_words:
            if mode == "agent":
                continue
            return mode == "self"
        if word in rs.partner_words:
            return mode != "self"
        if word in rs.addressee_words:
            return mode not in ("self", "partner_named")
        if word in rs.people_words:
            return mode in ("agent", "not_self")
        if word in rs.other_words:
            return mode == "not_self"
    return mode in ("not_self", "self")


# --------------------------------------------------------------------------- screening


def _mask_idioms(text: str, rs: RuleSet) -> tuple[str, str | None]:
    """Blank out idioms so "this is killing me" cannot trigger a rule; report the first."""
    first: str | None = None
    for idiom in rs.idioms:
        if idiom.gate and not any(g in text for g in idiom.gate):
            continue
        text, count = idiom.pattern.subn(" ~ ", text)
        first = first or (idiom.id if count else None)
    return text, first


def _rank(rule: Rule) -> tuple[int, int]:
    return RISK_LEVELS.index(rule.risk), CATEGORY_PRIORITY[rule.category]


def _signals(masked: str, present: set[str], rs: RuleSet) -> ScreenResult | None:
    """The second stage: an "unsure" when one category gathers enough signals.

    Each pattern of a family that appears counts once, at most two per family, so two
    different signs ("things in order" and "letters for my sister") add up as much as two
    families do, while one phrase repeated adds nothing.
    """
    counts: dict[int, int] = {}
    assert rs.signal_index is not None
    for item in rs.signal_index.candidates(masked, present):
        f, p = rs.signal_patterns[item]
        family = rs.signals[f]
        if counts.get(f, 0) == 2:
            continue
        for match in family.patterns[p].finditer(masked):
            if family.negatable and _is_negated(masked, match, rs):
                continue
            counts[f] = counts.get(f, 0) + 1
            break
    found: dict[str, list[tuple[SignalFamily, int]]] = {}
    for f, hits in counts.items():
        family = rs.signals[f]
        found.setdefault(family.category, []).append((family, hits))
    best: tuple[int, int, str] | None = None
    for category, families in found.items():
        total = sum(f.weight * hits for f, hits in families)
        if total >= rs.signal_threshold:
            rank = (total, CATEGORY_PRIORITY[category], category)
            best = rank if best is None or rank > best else best
    if best is None:
        return None
    category = best[2]
    names = "+".join(f.id.split(".", 1)[-1] for f, _hits in found[category])
    return ScreenResult("unsure", category, f"signals:{category}:{names}")


def _reassured(category: str, masked: str, rs: RuleSet) -> bool:
    return ((category in rs.reassured and rs.reassurance is not None
             and rs.reassurance.search(masked) is not None)
            or (category in rs.partner_reassured and rs.partner_reassurance is not None
                and rs.partner_reassurance.search(masked) is not None))


def _best_rule(masked: str, present: set[str], rs: RuleSet,
               leave_out: frozenset[str] = frozenset()) -> tuple[Rule | None, str | None]:
    """The highest-ranked rule that matches (not in the `leave_out` categories), and the
    first one whose match was negated."""
    best: Rule | None = None
    negated: str | None = None
    assert rs.rule_index is not None
    for n in rs.rule_index.candidates(masked, present):
        rule = rs.rules[n]
        if rule.category in leave_out or (best is not None and _rank(rule) <= _rank(best)):
            continue
        for match in rule.pattern.finditer(masked):
            if rule.subject and not _subject_ok(masked, match, rule, rs):
                continue
            if rule.negatable and _is_negated(masked, match, rs):
                negated = negated or rule.id
                continue
            best = rule
            break
    return best, negated


def _evaluate(text: str, rs: RuleSet) -> ScreenResult:
    norm = normalise(text, rs.max_chars)
    if not _WORD_RE.search(norm):
        return ScreenResult("none", "none", "empty")
    masked, idiom = _mask_idioms(norm, rs)
    present = grams(masked)
    best, negated = _best_rule(masked, present, rs)
    if best is not None and best.risk == "unsure" and _reassured(best.category, masked, rs):
        # A reassurance speaks for its own categories: "he isn't violent, he just says if I
        # text Tom he'll check my phone" still holds a sign of control.
        other, _negated = _best_rule(masked, present, rs, frozenset(rs.reassured))
        best = other if other is not None else best
    if best is None and rs.signals:
        signalled = _signals(masked, present, rs)
        if signalled is not None and not _reassured(signalled.category, masked, rs):
            return signalled
    if best is not None:
        # "she yells and cries but she's never touched me": an explicit reassurance outweighs
        # a merely uncertain sign (never a clear one), so the person is not asked needlessly.
        if best.risk == "unsure" and _reassured(best.category, masked, rs):
            return ScreenResult("none", "none", f"reassured:{best.id}")
        return ScreenResult(best.risk, best.category, best.id)
    if negated:
        return ScreenResult("none", "none", f"negated:{negated}")
    return ScreenResult("none", "none", f"idiom:{idiom}" if idiom else NO_MATCH)


def screen(text: str, rules: RuleSet | None = None, setting: Setting = NO_SETTING,
           learned: LearnedReader | None = None) -> ScreenResult:
    """Screen one user message with `rules` (the flows' own, loaded with the catalog; the
    shipped ones when none are given), typed in `setting`; `learned` reads what the rules
    found no word of. Never raises: on an internal error it returns "unsure" so the bot
    checks in gently rather than crashing or silently passing a possibly unsafe message."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = "" if text is None else str(text)
    try:
        rules = rules or load_rules()
    except Exception:  # the screen must never take the bot down
        log.exception("safety rules failed to load; returning unsure")
        return ScreenResult("unsure", "none", "screen_error")
    found = _screen_words(text, rules)
    strong = False
    if learned is not None and found.rule == NO_MATCH:
        found, strong = _learned(text, learned)
    elif learned is not None and cleared_by_words(found) and says_more(text, rules):
        read, strong = _learned(text, learned, whole_only=True)
        found = read if read.is_flagged else found
    if found.rule == NO_MATCH and setting.language not in rules.languages and _LETTER.search(
            text):
        # Words it cannot read are no sign of safety: never a silent pass. A time or a number
        # ("18:30") holds no words to read.
        return ScreenResult("unsure", "none", f"{UNREAD}:{setting.language}")
    if (not found.is_flagged or not rules.in_setting
            or setting.language not in rules.languages):
        # The setting's markers are words too: in a language the rules cannot read they
        # would only misread ("no sé qué hacer" is no commitment beginning "no").
        return _renamed(found, text, learned)
    try:
        risk, category, rule = lowered(found.risk, found.category, found.rule,
                                       normalise(text, rules.max_chars), setting,
                                       rules.in_setting, strong)
    except Exception:  # never lose a flag to a bug in the setting's rules
        log.exception("safety screen setting rules failed; keeping the flag")
        return _renamed(found, text, learned)
    return _renamed(ScreenResult(risk, category, rule), text, learned)


def _renamed(found: ScreenResult, text: str, learned: LearnedReader | None) -> ScreenResult:
    """A rules flag named by the category the whole message reads as, when the examples
    read it clearly so (`rename_lead`): the flag stands, and the help shown fits what the
    message is about. The rule id keeps the form that fired and tells the new name."""
    if (learned is None or not found.is_flagged or found.category not in learned.labels
            or found.category == "none"  # an error's "unsure" names no category to weigh
            or LEARNED_PREFIX in found.rule):  # the examples named it already
        return found
    try:
        other = learned.names_otherwise(text, found.category, "none")
    except Exception:  # never lose the rules' flag to the learned stage
        log.exception("learned screen failed to name a flag; keeping the rules' category")
        return found
    if other is None:
        return found
    return ScreenResult(found.risk, other, f"{found.rule}{RENAMED}{other}")


def shipped_learned() -> LearnedReader | None:
    """The shipped examples' reader, for flows folders without examples of their own."""
    return shipped_reader(EXAMPLES_FILE, LABELS, "category")


def unread(result: ScreenResult) -> bool:
    """The screen could not judge the message: it is in a language the rules do not read."""
    return result.rule.startswith(UNREAD + ":")


def cleared_by_words(result: ScreenResult) -> bool:
    """The rules saw a risk's words and cleared them: a negation, a reassurance."""
    return not result.is_flagged and result.rule.startswith(CLEARED_BY_WORDS)


def says_more(text: str, rules: RuleSet) -> bool:
    """Whether a message the rules cleared says more than the words they cleared: the
    clearing holds for its own words ("I'm not going to hurt myself" says nothing else, and
    stays cleared), not for the rest ("he's never hit me, he just has my bank card")."""
    parts = [part for part in _CLAUSE_BREAK.split(text) if part and _LETTER.search(part)]
    return any(not cleared_by_words(_screen_words(part, rules)) for part in parts)


def _learned(text: str, learned: LearnedReader, whole_only: bool = False
             ) -> tuple[ScreenResult, bool]:
    """Wording the rules have not seen: an "unsure" check-in (correctable in one tap) when
    the message reads as a risk by the examples' threshold, and whether it reads so by
    `overrule` (a strong reading, which the setting does not lower). A long message is also
    read sentence by sentence (`sentence_lead`), and what is left is put to the vote of the
    examples spelt most alike (`spelling_lead`). A message the rules cleared by a negation or a
    reassurance, that says more than that (`says_more`), is read as a whole only
    (`whole_only`): its sentences and its spelling would find the cleared words again."""
    try:
        reading = learned.leans_away(text, "none")
        if reading is None and not whole_only:
            reading = (learned.leans_away_in_a_sentence(text, "none")
                       or learned.leans_away_by_spelling(text, "none"))
    except Exception:  # never lose the rules' answer to the learned stage
        log.exception("learned screen failed; keeping the rules' answer")
        return ScreenResult("none", "none", NO_MATCH), False
    if reading is None:
        return ScreenResult("none", "none", NO_MATCH), False
    category = reading.label_away("none", learned.neighbours)
    return (ScreenResult("unsure", category, f"{LEARNED_PREFIX}{category}:"
                                             f"{reading.lead_over('none'):.2f}"),
            learned.is_strong(reading, "none"))


def _screen_words(text: str, rules: RuleSet) -> ScreenResult:
    """The words alone."""
    try:
        if len(text) <= rules.max_chars:
            return _evaluate(text, rules)
        # A long message is screened at both ends, so a risk at the end of a long ramble is
        # not missed; each part stays within the bound that keeps screening cheap.
        head = _evaluate(text[: rules.max_chars], rules)
        tail = _evaluate(text[-rules.max_chars :], rules)
        return max(head, tail, key=lambda r: (RISK_LEVELS.index(r.risk),
                                              CATEGORY_PRIORITY.get(r.category, 0)))
    except Exception:  # the screen must never take the bot down
        log.exception("safety screen failed; returning unsure")
        return ScreenResult("unsure", "none", "screen_error")
