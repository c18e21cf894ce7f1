"""How well the safety screen does, and how fast: figures on labelled messages.

Missed and false-alarm items are reported by index into the file, never by their text:
screened messages can describe abuse or self-harm. The labelled data's path is always given:
it is the repository's test data, which an installed coach does not have.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from bot.safety.screen import screen
from bot.safety.screen_rules import RuleSet
from bot.setting import NO_SETTING, setting_for
from bot.understanding.learned import LearnedReader

TEST_PERCENT = 30
SPLITS = ("train", "test", "all")


class LabelledDataError(ValueError):
    """The labelled data cannot be used; the message is one line, naming the file."""


def assign_split(text: str) -> str:
    """Deterministic split from a hash of the text, fixed before any rule was written."""
    bucket = int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "test" if bucket < TEST_PERCENT else "train"


def load_labelled(path: Path | str) -> list[dict[str, str]]:
    """Labelled items as dicts with text, category and (in the labelled set) split."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise LabelledDataError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        reason = " ".join(str(error).split())
        raise LabelledDataError(f"{path}: cannot read labelled data: {reason}") from None
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items or not all(
            isinstance(item, dict) and isinstance(item.get("text"), str) and "category" in item
            for item in items):
        raise LabelledDataError(f"{path}: not labelled data (a mapping with a non-empty "
                                "`items:` list, each with text and category)")
    return list(items)


def evaluate(split: str, path: Path | str, rules: RuleSet | None = None,
             learned: LearnedReader | None = None, language: str = "en") -> dict[str, Any]:
    """Recall, false-alarm rate and category accuracy; "unsure" counts as flagged.

    Missed and false-alarm items are reported by index into the file, never by text.
    """
    items = load_labelled(path)
    chosen = [(i, item) for i, item in enumerate(items) if split in ("all", item.get("split"))]
    # Each item is judged where it was typed and by whom, when the data says so.
    judged = [(i, item, screen(item["text"], rules,
                               setting_for(item, item.get("context"), item.get("lang") or language),
                               learned)) for i, item in chosen]
    risky = [row for row in judged if row[1]["category"] != "none"]
    safe = [row for row in judged if row[1]["category"] == "none"]
    recalled = [(i, item, r) for i, item, r in risky if r.is_flagged]
    right = [i for i, item, r in recalled if r.category == item["category"]]
    alarms = [i for i, _item, r in safe if r.is_flagged]
    return {
        "split": split,
        "items": len(chosen),
        "risk_items": len(risky),
        "none_items": len(safe),
        "recalled": len(recalled),
        "recall": _ratio(len(recalled), len(risky)),
        "false_alarms": len(alarms),
        "false_alarm_rate": _ratio(len(alarms), len(safe)),
        "category_correct": len(right),
        "category_accuracy": _ratio(len(right), len(recalled)),
        "unsure_flags": sum(r.risk == "unsure" for _i, _item, r in risky + safe),
        "missed_indices": [i for i, _item, r in risky if not r.is_flagged],
        "false_alarm_indices": alarms,
        "wrong_category_indices": [i for i, _item, _r in recalled if i not in right],
    }


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def benchmark(repeats: int, path: Path | str, rules: RuleSet | None = None,
              learned: LearnedReader | None = None) -> dict[str, Any]:
    """Median microseconds per screen() call over the labelled messages (warm cache)."""
    texts = [item["text"] for item in load_labelled(path)]
    screen("warm up the rule cache", rules, NO_SETTING, learned)
    per_message = [_time_us(text, repeats, rules, learned) for text in texts]
    huge = "I am worried about his dating app and the texts. " * 2_000
    return {
        "messages": len(texts),
        "repeats": repeats,
        "median_us": round(statistics.median(per_message), 1),
        "p95_us": round(sorted(per_message)[int(0.95 * (len(per_message) - 1))], 1),
        "max_us": round(max(per_message), 1),
        "huge_100k_chars_us": round(_time_us(huge, 3, rules, learned), 1),
        "learned_stage": learned is not None,
    }


def _time_us(text: str, repeats: int, rules: RuleSet | None,
             learned: LearnedReader | None) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        screen(text, rules, NO_SETTING, learned)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return statistics.median(samples)
