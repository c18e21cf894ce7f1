"""`coach screen [--json] [TEXT]`, plus evaluation and benchmarking of the safety screen.

The CLI never echoes message text: screened messages can describe abuse or self-harm and
terminal scrollback, CI logs and shell history are not safe places for them. Evaluation and
benchmarking take the labelled data's path: that data is the repository's test data, which an
installed coach does not have.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from pathlib import Path
from typing import Any, TextIO

import yaml

from bot.safety.screen import ScreenResult, screen

TEST_PERCENT = 30
SPLITS = ("train", "test", "all")
EXIT_USAGE = 2  # README's exit codes: a usage error
USAGE = (
    "usage: coach screen [--json] [TEXT]\n"
    "       coach screen --evaluate FILE [train|test|all]\n"
    "       coach screen --benchmark FILE\n"
    "With TEXT, screen it; without, screen one message per line of stdin.\n"
    "FILE holds labelled messages: YAML with `items:`, each with text, category and split.\n"
)


class LabelledDataError(ValueError):
    """The labelled data cannot be used; the message is one line, naming the file."""


# --------------------------------------------------------------------------- labelled data


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


def evaluate(split: str, path: Path | str) -> dict[str, Any]:
    """Recall, false-alarm rate and category accuracy; "unsure" counts as flagged.

    Missed and false-alarm items are reported by index into the file, never by text.
    """
    items = load_labelled(path)
    chosen = [(i, item) for i, item in enumerate(items) if split in ("all", item.get("split"))]
    risky = [(i, item, screen(item["text"])) for i, item in chosen if item["category"] != "none"]
    safe = [(i, item, screen(item["text"])) for i, item in chosen if item["category"] == "none"]
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


def benchmark(repeats: int, path: Path | str) -> dict[str, Any]:
    """Median microseconds per screen() call over the labelled messages (warm cache)."""
    texts = [item["text"] for item in load_labelled(path)]
    screen("warm up the rule cache")
    per_message = [_time_us(text, repeats) for text in texts]
    huge = "I am worried about his dating app and the texts. " * 2_000
    return {
        "messages": len(texts),
        "repeats": repeats,
        "median_us": round(statistics.median(per_message), 1),
        "p95_us": round(sorted(per_message)[int(0.95 * (len(per_message) - 1))], 1),
        "max_us": round(max(per_message), 1),
        "huge_100k_chars_us": round(_time_us(huge, 3), 1),
    }


def _time_us(text: str, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        screen(text)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return statistics.median(samples)


# --------------------------------------------------------------------------- CLI


def _measure(opts: dict[str, Any], stdout: TextIO) -> int:
    """--evaluate and --benchmark: the figures as JSON, or one line saying what is wrong."""
    command = "--evaluate FILE [train|test|all]" if opts["evaluate"] else "--benchmark FILE"
    if opts["data"] is None:
        stdout.write(f"coach screen: give the labelled data file: coach screen {command}\n")
        return EXIT_USAGE
    try:
        if opts["evaluate"]:
            figures = evaluate(opts["evaluate"], opts["data"])
        else:
            figures = benchmark(25, opts["data"])
    except LabelledDataError as error:
        stdout.write(f"coach screen: {error}\n")
        return EXIT_USAGE
    stdout.write(json.dumps(figures, indent=2) + "\n")
    return 0


def _format(result: ScreenResult, as_json: bool) -> str:
    if as_json:
        return json.dumps(result.to_dict(), sort_keys=False)
    return f"{result.risk}: {result.category} ({result.rule})"


def _parse(argv: list[str]) -> tuple[dict[str, Any], str | None]:
    """Tiny parser: returns (options, error). Everything after "--" is message text."""
    opts: dict[str, Any] = {"json": False, "text": [], "evaluate": None, "benchmark": False,
                            "data": None}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            opts["text"].extend(args)
            break
        if arg == "--json":
            opts["json"] = True
        elif arg in ("-h", "--help"):
            opts["help"] = True
        elif arg == "--benchmark":
            opts["benchmark"] = True
            if args and not args[0].startswith("-"):
                opts["data"] = args.pop(0)
        elif arg == "--evaluate":
            opts["evaluate"] = "test"
            for _ in range(2):  # FILE and a split, in either order
                if args and args[0] in SPLITS:
                    opts["evaluate"] = args.pop(0)
                elif args and not args[0].startswith("-") and opts["data"] is None:
                    opts["data"] = args.pop(0)
        elif arg.startswith("-") and len(arg) > 1 and not opts["text"]:
            # Do not echo the argument: it may be message text that starts with "-".
            return opts, "unknown option (put -- before text that starts with '-')"
        else:
            opts["text"].append(arg)
    return opts, None


def run(argv: list[str], stdin: TextIO, stdout: TextIO) -> int:
    """Entry point for `coach screen`; argv is what follows the subcommand."""
    opts, error = _parse(argv)
    if error or opts.get("help"):
        stdout.write((f"error: {error}\n" if error else "") + USAGE)
        return EXIT_USAGE if error else 0
    if opts["evaluate"] or opts["benchmark"]:
        return _measure(opts, stdout)
    if opts["text"]:
        stdout.write(_format(screen(" ".join(opts["text"])), opts["json"]) + "\n")
        return 0
    for line in stdin:
        stdout.write(_format(screen(line.rstrip("\r\n")), opts["json"]) + "\n")
        stdout.flush()
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(run(sys.argv[1:], sys.stdin, sys.stdout))
