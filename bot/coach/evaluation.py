"""How well the feedback analyser reads lines, and how fast: figures on labelled data.

evaluate() and benchmark() live here so tests and people report the same figures. They take
the labelled data's path: that data is the repository's test data, which an installed coach
does not have.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from bot.coach.feedback import analyse
from bot.coach.feedback_rules import FeedbackRules, compiled_rules
from bot.setting import NO_SETTING, setting_for
from bot.understanding.learned import LearnedReader

EVAL_KINDS = (
    "absolute",
    "you_blame",
    "insult",
    "contempt",
    "shouting",
    "threat",
    "accusation_question",
    "demand",
    "thought_as_feeling",
    "no_feeling",
    "no_specific_behavior",
    "no_invitation",
)


def load_labelled(path: Path | str) -> list[dict[str, Any]]:
    """The labelled lines of one data file (the repository's labelled data, not installed)."""
    with open(path, encoding="utf-8") as fh:
        return list(yaml.safe_load(fh)["items"])


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _per_kind(rows: list[tuple[set[str], set[str]]]) -> dict[str, dict[str, Any]]:
    table = {}
    for kind in EVAL_KINDS:
        tp = sum(kind in gold and kind in pred for gold, pred in rows)
        fp = sum(kind not in gold and kind in pred for gold, pred in rows)
        fn = sum(kind in gold and kind not in pred for gold, pred in rows)
        table[kind] = {
            "support": tp + fn,
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn),
        }
    return table


def evaluate(split: str, path: Path | str, with_errors: bool = False,
             rules: FeedbackRules | None = None,
             learned: LearnedReader | None = None, language: str = "en") -> dict[str, Any]:
    """Accuracy (calm vs not), harsh-kind coverage and per-kind precision/recall on a split,
    each line read in its own `lang` (else `language`).

    Files without a split field (the dev and fresh sets) are evaluated with split="all".
    """
    items = [i for i in load_labelled(path) if split == "all" or i.get("split") == split]
    rows, correct, exact, harsh_total, harsh_hit, errors = [], 0, 0, 0, 0, []
    unread = 0  # lines in a language the rules do not read: not judged, so never "right"
    confusion: dict[str, dict[str, int]] = {}
    for item in items:
        fb = analyse(item["text"], rules,
                     setting_for(item, item.get("context"), item.get("lang") or language), learned)
        gold, pred = set(item["kinds"]), {f.kind for f in fb.findings}
        rows.append((gold, pred))
        unread += not fb.read
        ok = fb.read and (fb.verdict == "calm") == (item["verdict"] == "calm")
        correct += ok
        exact += fb.read and fb.verdict == item["verdict"]
        confusion.setdefault(item["verdict"], {}).setdefault(fb.verdict, 0)
        confusion[item["verdict"]][fb.verdict] += 1
        if item["verdict"] == "harsh":
            harsh_total += 1
            harsh_hit += bool(gold & pred)
        if with_errors and (not ok or gold != pred):
            errors.append(
                {
                    "text": item["text"],
                    "gold": item["verdict"],
                    "pred": fb.verdict,
                    "gold_kinds": sorted(gold),
                    "pred_kinds": sorted(pred),
                }
            )
    result = {
        "split": split,
        "n": len(items),
        "not_judged": unread,
        "accuracy": _ratio(correct, len(items)),
        "verdict_accuracy": _ratio(exact, len(items)),
        "harsh_kind_coverage": _ratio(harsh_hit, harsh_total),
        "harsh_total": harsh_total,
        "harsh_with_correct_kind": harsh_hit,
        "counts": {v: sum(i["verdict"] == v for i in items) for v in ("calm", "almost", "harsh")},
        "confusion": confusion,
        "per_kind": _per_kind(rows),
    }
    if with_errors:
        result["errors"] = errors
    return result


def format_report(result: dict[str, Any]) -> str:
    """Plain-text table of evaluate() output, for humans and test logs."""

    def pct(x: float | None) -> str:
        return "  -  " if x is None else f"{100 * x:5.1f}"

    lines = [
        f"split={result['split']} n={result['n']} counts={result['counts']}",
        f"calm-vs-not accuracy: {pct(result['accuracy'])}%   "
        f"3-way verdict accuracy: {pct(result['verdict_accuracy'])}%",
        f"harsh lines with a correct kind: {result['harsh_with_correct_kind']}/"
        f"{result['harsh_total']} = {pct(result['harsh_kind_coverage'])}%",
        *([f"not judged (a language the rules do not read): {result['not_judged']}"]
          if result.get("not_judged") else []),
        f"confusion (gold -> predicted): {result['confusion']}",
        f"{'kind':22} {'support':>7} {'tp':>4} {'fp':>4} {'fn':>4} {'prec%':>6} {'rec%':>6}",
    ]
    for kind, row in result["per_kind"].items():
        lines.append(
            f"{kind:22} {row['support']:7d} {row['tp']:4d} {row['fp']:4d} {row['fn']:4d} "
            f"{pct(row['precision']):>6} {pct(row['recall']):>6}"
        )
    return "\n".join(lines)


def benchmark(n: int, path: Path | str, rules: FeedbackRules | None = None,
              learned: LearnedReader | None = None) -> dict[str, Any]:
    """Time analyse() over every labelled line, n rounds; median µs per message."""
    texts = [i["text"] for i in load_labelled(path)]
    compiled_rules()
    for text in texts:  # warm caches so the first round isn't measuring compilation
        analyse(text, rules, NO_SETTING, learned)
    samples = []
    for _ in range(max(1, int(n))):
        for text in texts:
            t0 = time.perf_counter_ns()
            analyse(text, rules, NO_SETTING, learned)
            samples.append((time.perf_counter_ns() - t0) / 1000)
    samples.sort()
    return {
        "messages": len(texts),
        "rounds": max(1, int(n)),
        "median_us": round(statistics.median(samples), 1),
        "mean_us": round(statistics.fmean(samples), 1),
        "p95_us": round(samples[int(0.95 * (len(samples) - 1))], 1),
        "max_us": round(samples[-1], 1),
        "learned_stage": learned is not None,
    }
