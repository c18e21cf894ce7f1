"""Finding a coach rule's words in a line: quotes, clauses and negation, with exact spans.

Every finding points at the words that caused it, so the text is normalised without changing
its length and matched clause by clause.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import asdict, dataclass
from typing import Any

from bot.coach.feedback_rules import FeedbackRules, KindRule
from bot.quotes import STRAIGHT

# Where each positive signal (a named feeling, an invitation...) was found.
Hits = dict[str, list[tuple[int, int]]]

WORD = re.compile(r"[\w']+")
_NEGATOR = re.compile(r"^(?:not|no|nor|without|n't)$|n't$")
_CLAUSE_BREAK = re.compile(r"[.!?;:,\n]|\b(?:and|but|so|because|though|although|while)\b")
_DOUBLE_QUOTED = re.compile(r'"[^"\n]{1,400}"')
_SINGLE_QUOTED = re.compile(r"(?<!\w)'(?=\w)[^\n]{1,400}?(?<=\S)'(?!\w)")
_LETTER_RUN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_BANG_RUN = re.compile(r"[!?¡]{2,}")
SECOND_PERSON = re.compile(r"\byou(?:r|rs|rself|'re|'ve|'d|'ll)?\b")
SPACES = re.compile(r"\s+")



@dataclass(frozen=True)
class Finding:
    """One problem in the text, pointing at the words that caused it."""

    kind: str
    start: int
    end: int
    excerpt: str
    explanation: str
    suggestion: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)




@dataclass(frozen=True)
class PreparedText:
    """The analysed prefix in both forms plus precomputed clause and quote boundaries."""

    original: str
    norm: str
    break_starts: list[int]
    break_ends: list[int]
    reported: tuple[tuple[int, int], ...]
    context: int = 200
    max_matches: int = 40


# --------------------------------------------------------------------------- text preparation


def normalise(text: str) -> str:
    """Lower-case and straighten quotes without changing the length (spans must stay valid)."""
    quoted = text.translate(STRAIGHT)
    lowered = quoted.lower()
    if len(lowered) == len(quoted):
        return lowered
    # A few characters (e.g. 'İ') grow when lower-cased; keep those as they are.
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in quoted)


def _quote_regions(norm: str, min_words_outside: int) -> tuple[tuple[int, int], ...]:
    """Quoted stretches the writer attributes to someone else (enough own words around them)."""
    regions = [m.span() for m in _DOUBLE_QUOTED.finditer(norm)]
    for m in _SINGLE_QUOTED.finditer(norm):
        if not any(s <= m.start() < e for s, e in regions):
            regions.append(m.span())
    if not regions:
        return ()
    regions.sort()
    outside, last = [], 0
    for s, e in regions:
        outside.append(norm[last:s])
        last = e
    outside.append(norm[last:])
    if len(WORD.findall(" ".join(outside))) < min_words_outside:
        return ()  # the whole message is quoted: these are the writer's own words
    return tuple(regions)


def prepare(text: str, rules: FeedbackRules) -> PreparedText:
    limits = rules.raw.get("limits") or {}
    original = text[: int(limits.get("max_chars", 5000))]
    norm = normalise(original)
    breaks = [m.span() for m in _CLAUSE_BREAK.finditer(norm)]
    reported = _quote_regions(norm, int(limits.get("reported_quote_min_words", 3)))
    return PreparedText(
        original=original,
        norm=norm,
        break_starts=[s for s, _ in breaks],
        break_ends=[e for _, e in breaks],
        reported=reported,
        context=int(limits.get("context_chars", 200)),
        max_matches=int(limits.get("max_matches_per_rule", 40)),
    )


def _clause_bounds(t: PreparedText, start: int, end: int) -> tuple[int, int]:
    """Start of the clause holding `start` and end of the one holding `end`.

    Capped at `context` characters either side so unpunctuated walls of text stay cheap.
    """
    i = bisect.bisect_right(t.break_ends, start) - 1
    clause_start = max(t.break_ends[i] if i >= 0 else 0, start - t.context)
    j = bisect.bisect_left(t.break_starts, end)
    clause_end = t.break_starts[j] if j < len(t.break_starts) else len(t.norm)
    return min(clause_start, start), max(min(clause_end, end + t.context), end)


def in_reported(t: PreparedText, start: int, end: int) -> bool:
    return any(s <= start and end <= e for s, e in t.reported)


def negated(prefix: str, window: int) -> bool:
    """A negator among the last few words before a match ('I'm not saying you never...')."""
    words = WORD.findall(prefix)
    if "if" in words:
        return False  # "if you weren't such a coward" still presupposes the label
    return any(_NEGATOR.search(w) for w in words[-window:])


# --------------------------------------------------------------------------- detection


def make_finding(rule: KindRule, t: PreparedText, start: int, end: int) -> Finding:
    excerpt = t.original[start:end]
    short = excerpt if len(excerpt) <= 80 else excerpt[:77] + "..."
    return Finding(
        kind=rule.name,
        start=start,
        end=end,
        excerpt=excerpt,
        explanation=rule.explanation,
        suggestion=rule.suggestion.replace("{excerpt}", short),
    )


def _match_span(m: re.Match[str]) -> tuple[int, int]:
    if "m" in m.re.groupindex and m.group("m") is not None:
        return m.span("m")
    return m.span()


def _accept(rule: KindRule, t: PreparedText, start: int, end: int, window: int) -> bool:
    """Apply quote, negation and context exceptions to one raw match."""
    if end <= start or in_reported(t, start, end):
        return False
    clause_start, clause_end = _clause_bounds(t, start, end)
    prefix = t.norm[clause_start:start]
    if rule.negatable and negated(prefix, window):
        return False
    if any(p.search(prefix) for p in rule.unless_before):
        return False
    suffix = t.norm[end:clause_end]
    return not any(p.search(suffix) for p in rule.unless_after)


def find_kind(rule: KindRule, t: PreparedText, window: int) -> list[Finding]:
    found: list[Finding] = []
    for regex in rule.regexes:
        for n, m in enumerate(regex.finditer(t.norm)):
            if n >= t.max_matches:
                break
            start, end = _match_span(m)
            if _accept(rule, t, start, end, window):
                found.append(make_finding(rule, t, start, end))
    return found


def _is_shout_word(token: str, rules: FeedbackRules) -> bool:
    letters = token.replace("'", "")
    if len(letters) < 2 or not token.isupper() or token.upper() in rules.acronyms:
        return False
    return len(letters) >= 4 or token.lower() in rules.short_shout_words


def find_shouting(t: PreparedText, rules: FeedbackRules) -> list[Finding]:
    """Capitalised words (not acronyms) and runs of '!!', merged into readable spans."""
    rule = rules.kinds["shouting"]
    text = t.original.translate(STRAIGHT)
    spans: list[list[int]] = []
    for m in _LETTER_RUN.finditer(text):
        if not _is_shout_word(m.group(0), rules):
            continue
        if spans and not re.search(r"[^\W\d_]", text[spans[-1][1] : m.start()]):
            spans[-1][1] = m.end()
        else:
            spans.append([m.start(), m.end()])
    min_bangs = int(rules.raw["kinds"]["shouting"].get("min_run_exclamations", 2))
    for m in _BANG_RUN.finditer(text):
        if m.group(0).count("!") >= min_bangs:
            spans.append([m.start(), m.end()])
    return [make_finding(rule, t, s, e) for s, e in spans if not in_reported(t, s, e)]


def dedupe(findings: list[Finding], rules: FeedbackRules) -> list[Finding]:
    """Drop same-kind overlaps and order by severity, then position."""
    findings.sort(key=lambda f: (rules.order.get(f.kind, 99), f.start, -(f.end - f.start)))
    kept: list[Finding] = []
    for f in findings:
        if any(k.kind == f.kind and k.start < f.end and f.start < k.end for k in kept):
            continue
        kept.append(f)
    return kept


def positive_hits(t: PreparedText, rules: FeedbackRules, window: int) -> Hits:
    """Spans of each positive signal outside reported quotes and not negated."""
    hits: Hits = {}
    for name, regexes in rules.positives.items():
        for regex in regexes:
            for n, m in enumerate(regex.finditer(t.norm)):
                if n >= t.max_matches:
                    break
                if in_reported(t, *m.span()):
                    continue
                clause_start, _ = _clause_bounds(t, m.start(), m.end())
                if name != "i_statement" and negated(t.norm[clause_start : m.start()], window):
                    continue
                hits.setdefault(name, []).append(m.span())
    for n, m in enumerate(rules.feeling_re.finditer(t.norm)):
        if n >= t.max_matches:
            break
        if not in_reported(t, *m.span()):
            hits.setdefault("named_feeling", []).append(m.span())
    return hits


def drop_accusing_questions(
    hits: Hits, findings: list[Finding]
) -> None:
    """A '?' that ends an accusation or a sarcastic question is not an invitation."""
    harsh_ends = [f.end for f in findings if f.kind in ("accusation_question", "contempt")]
    spans = hits.get("invitation", [])
    kept = [s for s in spans if not any(0 <= s[0] - e <= 120 for e in harsh_ends)]
    if kept:
        hits["invitation"] = kept
    else:
        hits.pop("invitation", None)


