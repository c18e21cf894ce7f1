"""Write the learned stage's examples files from the labelled sets in tests/data.

    .venv/bin/python tools/build_examples.py

The flows carry their examples (an installed coach has no tests/), so they are copied here,
deduplicated and in a fixed order, with the weights fitted from them beside each file
(`*.weights.npz`, so a start does not pay for the fit). A line that is also in a fresh hold-out
(tests/data/holdout_fresh*/, holdout_es*/) is left out, so the hold-outs stay unseen; a hold-out
once scored and reported is spent (SPENT below) and its lines become examples like any other. A
counsellor may add examples to the written files by hand (the next start fits the weights
again); this script rewrites them from the labelled sets, so add lasting ones to a set in
tests/data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.coach.feedback_rules import VERDICTS  # noqa: E402
from bot.safety.screen import LABELS  # noqa: E402
from bot.understanding.examples import examples_loader  # noqa: E402
from bot.understanding.fitted import weights_path  # noqa: E402

DATA = REPO / "tests" / "data"
# Hold-outs scored once and reported (docs/understanding.md): now examples.
SPENT = ("holdout_fresh", "holdout_fresh2", "holdout_fresh3", "holdout_fresh4", "holdout_fresh5",
         "holdout_fresh6", "holdout_fresh7", "holdout_fresh8", "holdout_fresh9",
         "holdout_fresh10", "holdout_fresh11", "holdout_fresh12", "holdout_fresh13",
         "holdout_fresh14", "holdout_fresh15", "holdout_fresh16", "holdout_fresh17",
         "holdout_fresh18", "holdout_fresh19", "holdout_fresh20", "holdout_fresh21",
         "holdout_fresh22")
SCREEN_SETS = ("screen_train.yaml", "screen_train2.yaml", "screen_train3a.yaml",
               "screen_train3b.yaml", "screen_train4a.yaml", "screen_train4b.yaml",
               "screen_train4c.yaml", "screen_train4d.yaml", "screen_train5a.yaml",
               "screen_train5b.yaml", "screen_train5c.yaml", "screen_train5d.yaml",
               "screen_train5e.yaml", "screen_train5f.yaml", "screen_train6a.yaml",
               "screen_train6b.yaml", "screen_train6c.yaml", "screen_train6d.yaml",
               "screen_train6e.yaml", "screen_train6f.yaml", "screen_train6g.yaml",
               "screen_train6h.yaml", "screen_train7a.yaml", "screen_train7b.yaml",
               "screen_train8a.yaml", "screen_train8b.yaml", "screen_train8c.yaml",
               "screen_train8d.yaml", "screen_train9a.yaml", "screen_train9b.yaml",
               "screen_train10a.yaml", "screen_train10b.yaml", "screen_train11a.yaml",
               "screen_train11b.yaml", "screen_train12a.yaml", "screen_train12b.yaml",
               "screen_train12c.yaml", "screen_train12d.yaml", "screen_train13a.yaml",
               "screen_train13b.yaml", "screen_train13c.yaml", "screen_train13d.yaml",
               "screen_train14a.yaml", "screen_train14b.yaml", "screen_train14c.yaml",
               "screen_train14d.yaml", "screen_train15a.yaml", "screen_train15b.yaml",
               "screen_train15c.yaml", "screen_train15d.yaml", "screen_train16a.yaml",
               "screen_train16b.yaml", "screen_train16c.yaml", "screen_train16d.yaml",
               "screen_train17a.yaml", "screen_train17b.yaml", "screen_train17c.yaml",
               "screen_train17d.yaml", "screen_train18a.yaml", "screen_train18b.yaml",
               "screen_train18c.yaml", "screen_train18d.yaml", "screen_train19a.yaml",
               "screen_train19b.yaml", "screen_train19c.yaml", "screen_train19d.yaml",
               "screen_train20a.yaml", "screen_train20b.yaml", "screen_train20c.yaml",
               "screen_train20d.yaml", "screen_train20e.yaml",
               "screen_lookalikes12.yaml", "screen_lookalikes13.yaml",
               "screen_paraphrases13.yaml", "screen_lookalikes13b.yaml",
               "screen_paraphrases13b.yaml", "screen_lookalikes13c.yaml",
               "screen_paraphrases13c.yaml",
               "screen_none_en.yaml",
               "screen_train_es.yaml", "screen_none_es.yaml",
               "safety_labelled.yaml", "safety_rounds.yaml", "safety_dev.yaml",
               "safety_fresh.yaml", "safety_holdout.yaml",
               *(f"{folder}/screen.yaml" for folder in SPENT))
# Sets in another language than the rules' English: the learned stage learns from them, and
# they are scored apart (tools/compare_understanding.py leaves them out of its split).
SPANISH_SETS = ("screen_train_es.yaml", "screen_none_es.yaml")
COACH_SETS = ("coach_train.yaml", "coach_train2.yaml", "coach_train3.yaml", "coach_train4a.yaml",
              "coach_train4b.yaml", "coach_train4c.yaml", "coach_train4d.yaml",
              "coach_train5a.yaml", "coach_train5b.yaml", "coach_train6a.yaml",
              "coach_train6b.yaml", "coach_train7a.yaml", "coach_train7b.yaml",
              "coach_train8a.yaml", "coach_train8b.yaml", "coach_train9a.yaml",
              "coach_train9b.yaml", "coach_train10a.yaml", "coach_train10b.yaml",
              "coach_train11a.yaml", "coach_train11b.yaml", "coach_train12a.yaml",
              "coach_train13a.yaml",
              "feedback_labelled.yaml", "feedback_rounds.yaml", "feedback_dev.yaml",
              "feedback_holdout.yaml",
              *(f"{folder}/coach.yaml" for folder in SPENT
                if (DATA / folder / "coach.yaml").is_file()))  # 13th, 15th, 17th, 18th: none

SCREEN_HEAD = """\
# Examples for the safety screen's learned stage (bot/understanding/). The rules in
# screen_rules.yaml come first; a message they pass over with no match at all is compared with
# these examples. When it reads as a risk by at least `threshold`, `agree` of its
# `neighbours` nearest examples are risks too, and it has `min_words` words or more (shorter
# ones say too little), the coach checks in gently ("unsure", which the person can correct
# in one tap). So it does too when the nearest example is a risk and at least `close` alike
# in meaning (0 to 1), and the message reads as a risk by at least `close_lead`. A message
# the rules cleared by a negation or a reassurance ("he's never hit me, he just has my bank
# card") is read too, as a whole, by the same numbers. A reading by `overrule` or more stands
# against the setting's entries in screen_rules.yaml (`in_setting`). A message of
# several sentences is read sentence by sentence too: one of `sentence_words` words or more
# that reads as a risk by `sentence_lead`, with `agree` nearest examples agreeing, is enough.
# What is left is put to a vote of the `spelling_neighbours` examples spelt most alike
# (character n-grams, the nearest weighing most): a lead of `spelling_lead` over none is
# enough, when the nearest of them is at least `spelling_alike` alike (0 to 1) and the message
# has `spelling_words` words or more. A risk the rules flag is named by the category the whole
# message reads as, when that leads the rules' own category by `rename_lead` and one of the
# nearest examples is of it: a rule knows a way of saying ("if I ... then ..."), the examples
# know what "if I lose it and hurt him" is about.
# `coach screen --explain` names the nearest examples. Add a message the screen
# missed (or flagged wrongly) with its category: violence, coercive_control, self_harm or
# none. Written by tools/build_examples.py from the labelled sets in tests/data; the model is
# built by tools/build_static_model.py.
"""
COACH_HEAD = """\
# Examples for the line coach's learned stage (bot/understanding/). The rules in
# feedback_rules.yaml come first; when they find nothing to change in a line, it is compared
# with these examples. When it reads as "almost" or "harsh" by at least `threshold`, with
# `agree` of its `neighbours` nearest examples not calm either (and `min_words` words or more),
# the coach says so and names a line it resembles. Add a line with its verdict (calm, almost or
# harsh). Written by tools/build_examples.py from the labelled sets in tests/data; the model
# is built by tools/build_static_model.py.
"""


def held_out() -> set[str]:
    """The fresh hold-outs' texts: only to leave out a labelled line that happens to be one
    of them word for word (a short "are you serious right now?" can be in both)."""
    held = set()
    for path in sorted([*DATA.glob("holdout_fresh*/*.yaml"), *DATA.glob("holdout_es*/*.yaml")]):
        if path.parent.name in SPENT:
            continue
        for item in yaml.safe_load(path.read_text(encoding="utf-8"))["items"]:
            held.add(" ".join(str(item["text"]).split()).casefold())
    return held


def _items(names: tuple[str, ...], label: str) -> list[dict]:
    seen: set[str] = held_out()
    out = []
    for name in names:
        for item in yaml.safe_load((DATA / name).read_text(encoding="utf-8"))["items"]:
            text = " ".join(str(item["text"]).split())
            if text.casefold() in seen:
                continue
            seen.add(text.casefold())
            entry = {"text": text, label: item[label]}
            if item.get("kinds"):
                entry["kinds"] = list(item["kinds"])
            out.append(entry)
    return out


def _render(head: str, numbers: dict[str, float], examples: list[dict]) -> str:
    body = yaml.safe_dump({"model": "../models/minilm-static",
                           "features": ["embeddings", "char_grams"], "ridge": 0.3,
                           **numbers, "examples": examples},
                          sort_keys=False, allow_unicode=True, width=100)
    return head + body


def rendered() -> dict[Path, str]:
    """Each examples file as this script writes it (a test checks the flows hold these)."""
    return {
        REPO / "flows" / "safety" / "screen_examples.yaml":
            _render(SCREEN_HEAD, {"threshold": 0.5, "min_words": 4, "neighbours": 5, "agree": 3,
                                  "close": 0.8, "close_lead": 0.4, "overrule": 1.0,
                                  "sentence_lead": 1.2, "sentence_words": 6,
                                  "spelling_neighbours": 10, "spelling_lead": 0.6,
                                  "spelling_alike": 0.45, "spelling_words": 6,
                                  "rename_lead": 0.8},
                    _items(SCREEN_SETS, "category")),
        REPO / "flows" / "coach" / "feedback_examples.yaml":
            _render(COACH_HEAD, {"threshold": 0.2, "min_words": 4, "neighbours": 5, "agree": 1},
                    _items(COACH_SETS, "verdict")),
    }


def main() -> int:
    loaders = {"screen_examples.yaml": examples_loader(LABELS, "category"),
               "feedback_examples.yaml": examples_loader(VERDICTS, "verdict")}
    for path, text in rendered().items():
        path.write_text(text, encoding="utf-8")
        reader, problems = loaders[path.name](path)  # fits, and saves the weights beside it
        if reader is None or not weights_path(path).is_file():
            print(f"{path.relative_to(REPO)}: {problems or 'weights not written'}")
            return 1
        print(f"{path.relative_to(REPO)}: {len(reader.examples)} examples, weights in "
              f"{weights_path(path).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
