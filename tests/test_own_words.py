"""The flows take the article's ideas, not its sentences.

Every sentence the coach says (flows/*.yaml and flows/coach/coaching.yaml) is compared with
every sentence of the source article: none may share a run of six words with it, or follow
its wording closely (word-level similarity of 0.65 or more). Skipped when the article is not
beside this checkout (`../shared/reference/article.txt`).
"""

from __future__ import annotations

import difflib
import re

import pytest
import yaml

from tests.conftest import REPO

ARTICLE = REPO.parent / "shared" / "reference" / "article.txt"
SPOKEN = [*sorted((REPO / "flows").glob("*.yaml")),
          *sorted((REPO / "flows" / "coach").glob("[cp]*.yaml"))]  # coaching, partner_*
RUN = 6
CLOSE = 0.65
_SPLIT = re.compile(r"(?<=[.!?:;])\s+|\n+|\s+[—–-]\s+|—")
_WORD = re.compile(r"[a-z']+")
_TYPOGRAPHY = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SPLIT.split(text.translate(_TYPOGRAPHY)) if s.strip()]


def words(sentence: str) -> list[str]:
    return _WORD.findall(sentence.casefold())


def runs(ws: list[str], n: int = RUN) -> set[tuple[str, ...]]:
    return {tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)}


def near_copies(spoken: list[str], article: str) -> list[str]:
    source = [words(s) for s in sentences(article)]
    source = [ws for ws in source if len(ws) >= 4]
    source_runs = set().union(*(runs(ws) for ws in source))
    found = []
    for sentence in spoken:
        ws = words(sentence)
        if len(ws) < 5:
            continue
        shared = runs(ws) & source_runs
        ratio = max(difflib.SequenceMatcher(None, ws, other).ratio() for other in source)
        if shared:
            found.append(f"{sentence!r} shares: {' '.join(min(shared))}")
        elif ratio >= CLOSE:
            found.append(f"{sentence!r} is {ratio:.2f} alike")
    return found


def _texts(node: object, key: object = None) -> list[str]:
    """Every text a flow or the coaching file can say: `say`, labels, skips, lines, tips."""
    if isinstance(node, dict):
        return [t for k, v in node.items() if k not in ("description", "owning", "id")
                for t in _texts(v, k)]
    if isinstance(node, list):
        return [t for item in node for t in _texts(item, key)]
    if isinstance(node, str) and key not in ("to", "flow", "at", "then", "start"):
        return [node]
    return []


def _spoken() -> list[str]:
    said = []
    for path in SPOKEN:
        for text in _texts(yaml.safe_load(path.read_text(encoding="utf-8"))):
            said.extend(sentences(text))
    return said


def test_the_check_catches_a_copied_sentence() -> None:
    article = "Trust is earned through consistency, not just promises. Other things happen."
    assert near_copies(["Trust is earned through consistency, not promises."], article)
    assert near_copies(["Remember: trust is earned through consistency, not just words."], article)
    assert not near_copies(["Small things done again and again rebuild trust."], article)


@pytest.mark.skipif(not ARTICLE.is_file(), reason="the source article is not beside the checkout")
def test_no_flow_sentence_follows_the_article_closely() -> None:
    assert near_copies(_spoken(), ARTICLE.read_text(encoding="utf-8")) == []
