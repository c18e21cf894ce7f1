"""Tests for the calm-language feedback analyser (bot/coach/feedback.py) and its CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.coach.evaluation import EVAL_KINDS, benchmark, evaluate, format_report, load_labelled
from bot.coach.feedback import Feedback, _learned_finding, _resembles, analyse
from bot.coach.feedback_rules import POSITIVE_KINDS, RULES_PATH, compiled_rules
from bot.coach.feedback_text import Finding
from bot.setting import Setting
from bot.understanding.learned import Example, Reading

# Test data: the analyser's evaluation is given these files, it never looks for them.
DATA_DIR = Path(__file__).parent / "data"
LABELLED_PATH = DATA_DIR / "feedback_labelled.yaml"
DEV_PATH = DATA_DIR / "feedback_dev.yaml"  # tuning set written after the labelled set
ROUNDS_PATH = DATA_DIR / "feedback_rounds.yaml"  # tuning rounds by writers who never saw rules
HOLDOUT_PATH = DATA_DIR / "feedback_holdout.yaml"  # held out: scored once, never tuned on
HARSH_KINDS = {"insult", "contempt", "threat", "you_blame", "accusation_question", "shouting"}


def kinds(text: str) -> list[str]:
    return [f.kind for f in analyse(text).findings]


def excerpts(text: str, kind: str) -> list[str]:
    return [f.excerpt for f in analyse(text).findings if f.kind == kind]


# --------------------------------------------------------------------------- per kind

POSITIVE_CASES = [
    ("absolute", "You always go quiet when I ask about Sam.", "always"),
    ("absolute", "You never tell me who you're texting.", "never"),
    ("absolute", "You flirt with everyone at parties.", "everyone"),
    ("absolute", "Every time I ask, you change the subject.", "Every time"),
    ("you_blame", "You made me feel like an idiot.", "You made me"),
    ("you_blame", "You're cheating on me with Jess.", "cheating"),
    ("you_blame", "You obviously don't care how I feel.", "You obviously don't"),
    ("you_blame", "It's your fault I can't trust you.", "It's your fault"),
    ("insult", "You're a liar.", "liar"),
    ("insult", "You're so selfish.", "selfish"),
    ("insult", "You're pathetic.", "pathetic"),
    ("insult", "Don't look at me like that, you coward.", "coward"),
    ("contempt", "Whatever. Do what you want.", "Whatever"),
    ("contempt", "Great job, genius, telling her you're single.", "Great job"),
    ("contempt", "Oh sure, she's just a friend.", "Oh sure"),
    ("contempt", "You disgust me.", "You disgust me"),
    ("contempt", "Fine, keep your secrets then.", "Fine"),
    ("shouting", "You NEVER listen to me.", "NEVER"),
    ("shouting", "Why did you do that!!", "!!"),
    ("shouting", "I SAID NO MORE LIES.", "SAID NO MORE LIES"),
    ("threat", "Delete the app or I'm leaving.", "or I'm leaving"),
    ("threat", "Text her again and you'll regret it.", "you'll regret"),
    ("threat", "One more lie and we're done.", "we're done"),
    ("threat", "If you keep bringing this up I'm moving into the spare room.", "I'm moving"),
    ("threat", "Keep nagging and I'll just stop telling you anything.", "I'll just stop"),
    ("threat", "If I find one more message I'm packing your bags.", "I'm packing"),
    ("threat", "I'm telling your mum exactly what you've been up to.", "I'm telling your mum"),
    ("accusation_question", "How long have you been sneaking around behind my back?",
     "How long have you been sneaking"),
    ("accusation_question", "Who else have you been messaging that I don't know about?",
     "Who else have you been messaging"),
    ("defensiveness", "I didn't do anything wrong. Liking a photo isn't a crime.",
     "I didn't do anything wrong"),
    ("stonewalling", "I'm not interested in your excuses.", "I'm not interested in your excuses"),
    ("accusation_question", "Why would you keep Hinge on your phone?", "Why would you"),
    ("accusation_question", "What is wrong with you?", "What is wrong with you"),
    ("accusation_question", "How could you do this to me?", "How could you"),
    ("demand", "You have to delete the app.", "You have to"),
    ("demand", "Stop messaging him.", "Stop"),
    ("demand", "Delete it now.", "Delete"),
    ("demand", "I need you to block her.", "I need you to"),
    ("thought_as_feeling", "I feel that you're hiding something.", "I feel that"),
    ("thought_as_feeling", "I feel like you care more about your phone.", "I feel like"),
    ("thought_as_feeling", "I just feel like you'd rather be with Jess.", "I just feel like"),
]


@pytest.mark.parametrize(("kind", "text", "excerpt"), POSITIVE_CASES)
def test_kind_fires_on_the_right_words(kind: str, text: str, excerpt: str) -> None:
    found = [f for f in analyse(text).findings if f.kind == kind]
    assert found, f"{kind} missing in {text!r}: {kinds(text)}"
    assert any(f.excerpt.lower() == excerpt.lower() for f in found), [f.excerpt for f in found]
    for f in found:
        assert text[f.start : f.end] == f.excerpt


NEGATIVE_CASES = [
    ("absolute", "I always feel better after we talk. Can we talk about Sam?"),
    ("absolute", "I never meant to hurt you."),
    ("absolute", "You flirted with Jess last night, and I felt hurt. Can we talk?"),
    ("you_blame", "You made me feel really heard, thank you."),
    ("you_blame", "I noticed the messages last night and I feel uneasy. Can we talk?"),
    ("insult", "I was selfish to keep the app, and I'm sorry."),
    ("insult", "She said I'm a liar, and it hurt. Can we talk about it?"),
    ("contempt", "Whatever you need, I'm here. Can we talk tonight?"),
    ("contempt", "I get that you didn't think it was a big deal. Can we talk?"),
    ("shouting", "I saw your DMs on IG and the TV was on. OK, can we talk?"),
    ("shouting", "I felt hurt about the DMs. Can we talk?"),
    ("shouting", "Why did you do that?!"),
    ("threat", "I'm not leaving; I want to work this out. Can we talk?"),
    ("threat", "I'm done with the app, I deleted it. I'm sorry."),
    ("threat", "If you ever want to talk about it, I'm going to be right here."),
    ("threat", "If you keep asking, I'll tell you the truth. Can we sit down?"),
    ("threat", "If you ever want to talk, I'm out in the garden."),
    ("threat", "If I find the charger I'll send it to you. Can we talk tonight?"),
    ("accusation_question", "How long have you been feeling this way? I want to understand."),
    ("accusation_question", "Who else have you talked to about us? I'd like to know who knows."),
    ("accusation_question", "Can you help me understand why the app is still there?"),
    ("demand", "I'd like us to agree on some boundaries. Would you be open to that?"),
    ("demand", "I will stop messaging him, I promise. I'm sorry."),
    ("demand", "I found the messages and it really hurt me. I need you to see that."),
    ("minimising", "You're right, I said it was nothing. It wasn't nothing, and I'm sorry."),
    ("insult", "I'm sorry for calling you a liar when you asked. I was scared."),
    ("absolute", "I lied, and I'm sorry. If you want, I'll tell you everything."),
    ("thought_as_feeling", "I feel hurt and lonely. Can we talk?"),
    ("thought_as_feeling", "I felt uneasy when you hid your phone."),
    ("threat", "I need honesty more than detail. Could you start by telling me whether it's over?"),
    ("non_apology", "I'm sorry. Not sorry you found out, sorry I did it."),
]


@pytest.mark.parametrize(("kind", "text"), NEGATIVE_CASES)
def test_kind_does_not_fire_on_calm_use(kind: str, text: str) -> None:
    assert kind not in kinds(text)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("absolute", "I don't always know how to say this. Can we talk?"),
        ("absolute", "I'm not saying you never make time for me. Can we talk?"),
        ("insult", "You're not a liar, and I know that."),
        ("insult", "I'm not calling you a liar. Can we talk about Friday?"),
        ("you_blame", "I'm not saying you're cheating. Can we talk about Friday?"),
        ("demand", "I'm not saying you have to delete it. Can we talk about it?"),
    ],
)
def test_negation_suppresses(kind: str, text: str) -> None:
    assert kind not in kinds(text)


def test_negation_does_not_leak_across_clauses() -> None:
    assert "absolute" in kinds("It's not fair, you never listen.")
    assert "insult" in kinds("Maybe if you weren't such a coward you'd tell me the truth.")


# --------------------------------------------------------------------------- quotes


@pytest.mark.parametrize(
    "text",
    [
        'You said "whatever" when I brought it up, and I felt shut out. Can we talk?',
        'When you called me "crazy", I felt hurt. Can we talk about it?',
        "When you called me “paranoid” on Sunday, I felt dismissed. Can we talk?",
        "When you said 'you always overreact', I felt small. Can we talk about it?",
    ],
)
def test_reported_quotes_are_not_the_writers_words(text: str) -> None:
    fb = analyse(text)
    assert fb.verdict == "calm", fb.findings


def test_whole_message_in_quotes_is_still_analysed() -> None:
    assert "insult" in kinds('"You\'re a liar."')


def test_sarcasm_around_a_quote_is_contempt() -> None:
    assert "contempt" in kinds("Oh sure, she's \"just a friend\". Do you think I'm stupid?")


# --------------------------------------------------------------------------- normalisation


def test_curly_apostrophes_and_spans_on_original_text() -> None:
    text = "Honestly… you’re a liar, and I’m done."
    fb = analyse(text)
    by_kind = {f.kind: f for f in fb.findings}
    assert by_kind["insult"].excerpt == "liar"
    assert by_kind["threat"].excerpt == "I’m done"
    for f in fb.findings:
        assert text[f.start : f.end] == f.excerpt


def test_case_is_ignored_for_words_but_used_for_shouting() -> None:
    assert "insult" in kinds("YOU LIAR")
    assert "shouting" in kinds("YOU LIAR")
    assert "shouting" not in kinds("you liar")


def test_length_changing_lowercase_keeps_spans_valid() -> None:
    text = "İİİ İstanbul trip: you always lie."
    for f in analyse(text).findings:
        assert text[f.start : f.end] == f.excerpt


def test_word_boundaries() -> None:
    assert "absolute" not in kinds("Alwaysville is where we met. Can we talk?")
    assert "insult" not in kinds("I read the Liars book. Can we talk about it?")


# --------------------------------------------------------------------------- verdicts and score


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        (
            "I've noticed you've been messaging Jess late at night, and I feel uneasy. "
            "Can we talk about it?",
            "calm",
        ),
        ("I feel like you care more about your phone than about me.", "almost"),
        ("You always go quiet when I ask about Jake. Can we talk?", "almost"),
        ("You need to delete the app.", "almost"),
        ("You were on Tinder again last night.", "almost"),
        ("You always lie and you never say sorry.", "harsh"),
        ("Delete it. Block her. Now.", "harsh"),
        ("You're a liar.", "harsh"),
        ("You're so full of it.", "harsh"),
    ],
)
def test_verdict_calibration(text: str, verdict: str) -> None:
    assert analyse(text).verdict == verdict


def test_thought_as_feeling_alone_is_never_harsh() -> None:
    fb = analyse("I feel like you're hiding something.")
    assert fb.verdict == "almost"
    assert [f.kind for f in fb.findings] == ["thought_as_feeling"]


def test_missing_parts_are_gentle_and_unanchored() -> None:
    fb = analyse("I noticed you liked her photos again.")
    assert fb.verdict == "almost"
    assert {f.kind for f in fb.findings} == {"no_feeling", "no_invitation"}
    assert all((f.start, f.end, f.excerpt) == (0, 0, "") for f in fb.findings)
    fb = analyse("I'm upset with you.")
    assert {f.kind for f in fb.findings} == {"no_specific_behavior", "no_invitation"}


def test_score_bands_agree_with_verdicts() -> None:
    bands = compiled_rules().raw["scoring"]["bands"]
    for item in load_labelled(LABELLED_PATH):
        fb = analyse(item["text"])
        low, high = bands[fb.verdict]
        assert low <= fb.score <= high


def test_findings_are_ordered_most_important_first() -> None:
    fb = analyse("You always do this, you liar, or I'm leaving!!")
    order = compiled_rules().order
    ranks = [order[f.kind] for f in fb.findings]
    assert ranks == sorted(ranks)
    assert fb.findings[0].kind == "threat"


def test_positives_are_reported() -> None:
    fb = analyse(
        "I love you, and I know I've also been distant. When you texted Sam last night "
        "I felt hurt. Can we talk?"
    )
    assert set(fb.positives) == {
        "i_statement",
        "named_feeling",
        "specific_observation",
        "invitation",
        "appreciation",
        "own_part",
    }
    assert fb.score >= 90


def test_empty_text_asks_for_something() -> None:
    for text in ("", "   ", "\n\t"):
        fb = analyse(text)
        assert fb.verdict == "almost"
        assert [f.kind for f in fb.findings] == ["empty"]
        assert fb.findings[0].suggestion and fb.rewrite


# --------------------------------------------------------------------------- rewrite


def test_rewrite_keeps_behaviour_and_drops_the_attack() -> None:
    fb = analyse("You keep texting your ex when I'm asleep, you liar!!")
    assert "you keep texting your ex when I'm asleep" in fb.rewrite
    assert "liar" not in fb.rewrite and "!!" not in fb.rewrite


def test_rewrite_uses_the_users_feeling_and_drops_absolutes() -> None:
    fb = analyse("You always hide your screen when I walk by, and it makes me nervous.")
    assert "nervous" in fb.rewrite
    assert "always" not in fb.rewrite
    assert "hide your screen when I walk by" in fb.rewrite


def test_rewrite_falls_back_to_a_placeholder() -> None:
    fb = analyse("You're pathetic.")
    assert fb.rewrite and "pathetic" not in fb.rewrite
    assert fb.rewrite.endswith("?")


def test_rewrite_of_calm_text_is_the_text() -> None:
    text = "I felt hurt when I saw the messages last night. Can we talk?"
    assert analyse(text).rewrite == text


def test_rewrite_for_a_defensive_apology_owns_the_part() -> None:
    fb = analyse("I'm sorry, but if you paid me more attention I wouldn't have needed it.")
    assert fb.verdict == "harsh"
    assert "sorry" in fb.rewrite.lower() and "attention" not in fb.rewrite


# --------------------------------------------------------------------------- API shape


def test_to_dict_is_json_ready_and_complete() -> None:
    fb = analyse("You always lie!! Can we talk?")
    data = json.loads(json.dumps(fb.to_dict()))
    assert set(data) == {"verdict", "score", "findings", "rewrite", "positives", "read"}
    for f in data["findings"]:
        assert set(f) == {"kind", "start", "end", "excerpt", "explanation", "suggestion"}


def test_dataclasses_are_frozen_and_deterministic() -> None:
    fb = analyse("You never listen.")
    assert isinstance(fb, Feedback) and isinstance(fb.findings[0], Finding)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fb.verdict = "calm"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        fb.findings[0].kind = "x"  # type: ignore[misc]
    assert analyse("You never listen.") == fb


def test_explanations_are_one_line_and_suggestions_concrete() -> None:
    text = "You ALWAYS lie, you liar. Whatever. Why would you? Stop it or I'm leaving!!"
    for f in analyse(text).findings:
        assert f.explanation and "\n" not in f.explanation
        assert f.suggestion and "{" not in f.suggestion


# --------------------------------------------------------------------------- robustness


def check_limits(text: str) -> None:
    fb = analyse(text)
    assert fb.verdict in ("calm", "almost", "harsh")
    assert isinstance(fb.score, int) and 0 <= fb.score <= 100
    assert isinstance(fb.rewrite, str) and fb.rewrite.strip()
    assert set(fb.positives) <= set(POSITIVE_KINDS)
    for f in fb.findings:
        assert 0 <= f.start <= f.end <= len(text)
        assert text[f.start : f.end] == f.excerpt
    json.dumps(fb.to_dict())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_any_text_stays_within_limits(text: str) -> None:
    check_limits(text)


huge_text = st.builds(
    lambda chunk, n: chunk * n,
    st.text(min_size=1, max_size=40),
    st.integers(min_value=100, max_value=4000),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(huge_text)
def test_huge_text_stays_within_limits(text: str) -> None:
    check_limits(text)


@pytest.mark.parametrize(
    "text",
    [
        "x" * 100_000,
        "You always lie. " * 7000,
        "<b>You liar</b> <script>alert(1)</script>",
        "أنت دائما تكذب، لماذا؟ you always",
        "I feel 💔😢 when you text her 🙄",
        "\x00\x01\x1b[31mYou liar\x07",
        "\u202eYou always lie\u202c",
        '"' * 5000 + "'" * 5000,
    ],
)
def test_odd_inputs_stay_within_limits(text: str) -> None:
    check_limits(text)


def test_only_the_prefix_is_analysed_but_spans_stay_valid() -> None:
    text = "I feel hurt. " * 500 + "You liar!"
    fb = analyse(text)
    assert "insult" not in {f.kind for f in fb.findings}
    check_limits(text)


# --------------------------------------------------------------------------- rules file


def test_rules_file_loads_with_safe_load_and_has_wording_for_every_kind() -> None:
    with open(RULES_PATH, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    for kind in (*EVAL_KINDS, "empty"):
        spec = raw["kinds"][kind]
        assert spec["explanation"].strip() and "\n" not in spec["explanation"]
        assert spec["suggestion"].strip()
    for key in ("opener", "opener_no_behaviour", "thought", "apology", "empty"):
        assert raw["rewrite"][key].strip()
    for key in ("header", "finding", "try", "usage", "verdicts", "positive_labels"):
        assert raw["cli"][key]
    rules = compiled_rules()  # every regex compiles
    assert set(EVAL_KINDS) <= set(rules.kinds)


def yaml_wording(raw: dict) -> list[str]:
    texts = []
    for spec in raw["kinds"].values():
        texts += [spec["explanation"], spec["suggestion"]]
    texts += [v for v in raw["rewrite"].values() if isinstance(v, str) and " " in v]
    texts += [v for v in raw["cli"].values() if isinstance(v, str)]
    return texts


def test_user_facing_wording_is_not_hard_coded_in_python() -> None:
    """Wording lives in YAML only: no explanation, template or label is repeated in code."""
    raw = compiled_rules().raw
    bot = RULES_PATH.parents[2] / "bot"
    for module in (bot / "coach" / "feedback.py", bot / "coach" / "feedback_rules.py",
                   bot / "coach" / "feedback_text.py", bot / "coach" / "evaluation.py",
                   bot / "cli" / "feedback.py"):
        source = module.read_text(encoding="utf-8")
        for text in yaml_wording(raw):
            head = text.split("{")[0][:24]
            if len(head) >= 8:
                assert head not in source, (module, head)


# --------------------------------------------------------------------------- labelled data


def test_labelled_data_is_well_formed_and_split_by_hash() -> None:
    items = load_labelled(LABELLED_PATH)
    assert len(items) >= 160
    calm = [i for i in items if i["verdict"] == "calm"]
    assert 0.45 <= len(calm) / len(items) <= 0.55
    assert len({i["text"] for i in items}) == len(items)
    for item in items:
        assert item["verdict"] in ("calm", "almost", "harsh")
        assert set(item["kinds"]) <= set(EVAL_KINDS)
        assert (item["verdict"] == "calm") == (not item["kinds"])
    # The split was assigned from sha256(text) before any rule existed: reproduce it.
    for group in (calm, [i for i in items if i["verdict"] != "calm"]):
        ranked = sorted(group, key=lambda i: hashlib.sha256(i["text"].encode()).hexdigest())
        n_test = round(0.3 * len(ranked))
        assert [i["split"] for i in ranked] == ["test"] * n_test + ["train"] * (
            len(ranked) - n_test
        )


def test_test_split_meets_the_quality_bar() -> None:
    result = evaluate("test", LABELLED_PATH)
    print("\n" + format_report(result))
    assert result["n"] >= 48
    assert result["accuracy"] >= 0.90
    assert result["harsh_kind_coverage"] >= 0.85


@pytest.mark.parametrize(("path", "floor"), [(DEV_PATH, 0.90), (ROUNDS_PATH, 0.85)])
def test_tuning_sets_accuracy(path: Path, floor: float) -> None:
    """Tuning sets written after the labelled set (tests/data/feedback_dev.yaml, and the rounds
    in feedback_rounds.yaml by writers who never saw the rules). The rules were widened from
    their misses, so these scores are optimistic and only guard against regressions; their
    first-contact scores are in the file headers. The rounds' floor is lower because their
    writers mark "feeling + behaviour, no question" as almost, where the analyser (and the
    labelled set) read it as calm."""
    items = load_labelled(path)
    assert len(items) >= 80
    for item in items:
        assert "split" not in item
        assert set(item["kinds"]) <= set(EVAL_KINDS)
        assert (item["verdict"] == "calm") == (not item["kinds"])
    assert not {i["text"] for i in items} & {i["text"] for i in load_labelled(LABELLED_PATH)}
    result = evaluate("all", path)
    print("\n" + format_report(result))
    assert result["accuracy"] >= floor
    assert result["harsh_kind_coverage"] >= 0.85


def test_holdout_is_unseen_and_keeps_its_measured_floor() -> None:
    """tests/data/feedback_holdout.yaml was scored once and never tuned on (see its header):
    accuracy 85.6%, harsh lines with a right kind 80.9%. This guards that floor."""
    items = load_labelled(HOLDOUT_PATH)
    assert len(items) == 139
    seen = {i["text"] for p in (LABELLED_PATH, DEV_PATH, ROUNDS_PATH) for i in load_labelled(p)}
    assert not seen & {i["text"] for i in items}
    result = evaluate("all", HOLDOUT_PATH)
    print("\n" + format_report(result))
    assert result["accuracy"] >= 0.83
    assert result["harsh_kind_coverage"] >= 0.78


def test_evaluate_reports_per_kind_figures() -> None:
    result = evaluate("train", LABELLED_PATH)
    assert set(result["per_kind"]) == set(EVAL_KINDS)
    row = result["per_kind"]["absolute"]
    assert row["tp"] + row["fn"] == row["support"]
    assert sum(result["counts"].values()) == result["n"]


# --------------------------------------------------------------------------- CLI


def run(argv: list[str], stdin: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`coach feedback ARGV` with `stdin`: the exit code and stdout."""
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["feedback", *argv])
    return code, capsys.readouterr().out


def test_cli_with_text_prints_a_readable_result(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["You always hide your phone, you liar!!"], "", monkeypatch, capsys)
    assert code == 0
    lines = out.splitlines()
    assert "harsh" in lines[0].lower() and "/100" in lines[0]
    assert any(re.match(r'^insult: "liar" — \S', line) for line in lines)
    assert lines[-1].startswith("Try: ")


def test_cli_reads_stdin_one_result_per_line(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run([], "You're a liar.\n\nI feel hurt. Can we talk?\n", monkeypatch, capsys)
    assert code == 0
    assert len(out.splitlines()) == 3


def test_cli_json_lines(monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["--json"], "You're a liar.\nI feel hurt. Can we talk?\n", monkeypatch,
                    capsys)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["verdict"] for r in rows] == ["harsh", "calm"]
    assert rows[0]["findings"][0]["kind"] == "insult"
    assert {"verdict", "score", "findings", "rewrite"} <= set(rows[1])


def test_cli_json_with_text_and_usage(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["--json", "You", "never", "listen."], "", monkeypatch, capsys)
    assert code == 0 and json.loads(out)["verdict"] == "almost"
    code, out = run(["--help"], "", monkeypatch, capsys)
    assert code == 0 and "usage: coach feedback" in out


def test_cli_text_may_surround_options_and_follow_dashes(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["You", "never", "--json", "listen."], "", monkeypatch, capsys)
    assert code == 0 and json.loads(out)["verdict"] == "almost"
    code, out = run(["--json", "--", "-", "You", "never", "--json"], "", monkeypatch, capsys)
    assert code == 0 and json.loads(out)["verdict"]


def test_cli_unknown_option_is_a_usage_error_that_does_not_repeat_it(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """What follows `coach feedback` may be the start of a message someone plans to say."""
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["feedback", "--secretly-hurt", "words"]) == 2
    err = capsys.readouterr().err
    assert "usage: coach feedback" in err and "put -- before text" in err
    assert "secretly" not in err


# --------------------------------------------------------------------------- speed


def test_benchmark_is_fast_enough() -> None:
    result = benchmark(3, LABELLED_PATH)
    print(f"\nmedian {result['median_us']} µs/message over {result['messages']} messages")
    assert result["messages"] == len(load_labelled(LABELLED_PATH))
    # The target is < 1000 µs; allow headroom so a slow CI runner doesn't flake.
    assert result["median_us"] < 2500


# --------------------------------------------------------------------------- policing, too short


@pytest.mark.parametrize(
    "text",
    [
        "Can you let me check your phone when I feel anxious?",
        "I want you to show me your phone every night.",
        "I need to see your messages so I can trust you again.",
        "Can you share your location with me from now on?",
        "From now on I want to see your phone whenever I ask.",
        "I will check his phone every night and track his location",
        "Give me your password.",
        "I'd like your passwords for Instagram by tonight.",
        "I'll keep an eye on who she texts.",
        "Your phone stays on the table from now on.",
        "We should install Life360 so I always know.",
    ],
)
def test_policing_is_never_calm(text: str) -> None:
    result = analyse(text)
    assert "policing" in {f.kind for f in result.findings}, kinds(text)
    assert result.verdict == "harsh"
    assert "open" in result.rewrite.lower()  # the rewrite asks for openness, not access


@pytest.mark.parametrize(
    "text",
    [
        "I'll show you my phone whenever you want, no secrets.",
        "I don't want to check your phone, I want us to trust each other.",
        "You asked to see my phone and I said yes.",
        "I noticed you message Sam a lot and I felt uneasy. Can we talk?",
    ],
)
def test_openness_offered_is_not_policing(text: str) -> None:
    assert "policing" not in {f.kind for f in analyse(text).findings}


@pytest.mark.parametrize("text", ["ok", "asdfgh", "2", "fine then"])
def test_too_short_is_not_praised_as_calm(text: str) -> None:
    result = analyse(text)
    assert result.verdict != "calm"


def test_short_calm_reply_is_still_calm() -> None:
    assert analyse("I hear you.").verdict == "calm"


# -- who is speaking -----------------------------------------------------------------------------

CROSSED, HURT = Setting("crossed", "rehearsal"), Setting("hurt", "rehearsal")


@pytest.mark.parametrize(("text", "kind"), [
    ("I'm sorry, but it was just chatting and nothing happened", "but_apology"),
    ("I'm sorry you found out that way", "non_apology"),
    ("Sorry if you felt hurt by it", "non_apology"),
    ("You are overreacting, it was nothing", "minimising"),
    ("If you had paid me any attention I wouldn't have looked elsewhere", "blame_shift"),
    ("what about you, you also text your ex", "blame_shift"),
])
def test_the_one_who_crossed_a_line_hears_what_takes_the_apology_back(text: str,
                                                                      kind: str) -> None:
    fb = analyse(text, setting=CROSSED)
    assert fb.verdict == "harsh" and kind in {f.kind for f in fb.findings}
    assert fb.rewrite.startswith("I'm sorry. What I did hurt you")


def test_a_plain_apology_from_the_one_who_crossed_a_line_is_calm() -> None:
    fb = analyse("I'm sorry I hid the messages from you. It was wrong, and I want to hear how "
                 "it's been for you.", setting=CROSSED)
    assert fb.verdict == "calm" and "own_part" in fb.positives


def test_owning_a_part_in_plain_words_is_heard() -> None:
    owned = ("It was my choice, nobody else's.", "That's on me, all of it.",
             "I lied about the app. I did that.",
             "I told you it was harmless. That was me making excuses.")
    unheard = [text for text in owned if "own_part" not in analyse(text, setting=CROSSED).positives]
    assert unheard == []


def test_the_parts_that_keep_a_line_calm_are_named_by_the_rules_file() -> None:
    from bot.coach.feedback import shipped_learned

    rules = compiled_rules()
    learned_spec = rules.raw["kinds"]["learned"]
    assert set(learned_spec["calm_building"]) <= set(rules.raw["positives"])
    text = "I feel lonely when you're on your phone all evening"
    none_kept = dataclasses.replace(rules, raw={**rules.raw, "kinds": {
        **rules.raw["kinds"], "learned": {**learned_spec, "calm_building": ["appreciation"]}}})
    assert analyse(text, setting=HURT, learned=shipped_learned()).verdict == "calm"
    assert analyse(text, none_kept, HURT, shipped_learned()).verdict != "calm"


def test_the_hurt_partner_is_never_handed_an_apology() -> None:
    for text in ("I'm sorry I snooped, I was scared", "I'm sorry you found out that way",
                 "I'm sorry but you lied to me"):
        fb = analyse(text, setting=HURT)
        assert "What I did hurt you" not in fb.rewrite
        assert "my part" not in fb.rewrite
        assert not {"but_apology", "non_apology"} & {f.kind for f in fb.findings}


def test_without_a_role_every_kind_is_looked_for() -> None:
    fb = analyse("I'm sorry you found out that way")
    assert "non_apology" in {f.kind for f in fb.findings}


def test_the_command_line_takes_the_role_and_the_context(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feedback", "--json", "--rules-only", "--role", "hurt", "--context",
                 "practice", "--", "I'm sorry you found out that way"]) == 0
    hurt = json.loads(capsys.readouterr().out)
    assert main(["feedback", "--json", "--rules-only", "--role", "crossed", "--",
                 "I'm sorry you found out that way"]) == 0
    crossed = json.loads(capsys.readouterr().out)
    assert (hurt["verdict"], crossed["verdict"]) == ("calm", "harsh")


# -- the learned stage -----------------------------------------------------------------------------


def test_the_learned_stage_reads_a_line_the_rules_call_calm() -> None:
    from bot.coach.feedback import shipped_learned

    text = "I guess I should just trust you blindly then"
    assert analyse(text).verdict == "calm"
    fb = analyse(text, learned=shipped_learned())
    assert fb.verdict != "calm" and len(fb.findings) == 1  # a kind read, or "learned"
    assert "for example: “" in fb.findings[0].explanation
    assert fb.rewrite != text


def test_a_calm_line_stays_calm_with_the_learned_stage() -> None:
    from bot.coach.feedback import shipped_learned

    text = "I felt hurt when I saw the messages with Sam. Can we talk about it tonight?"
    assert analyse(text, learned=shipped_learned()).verdict == "calm"


def test_the_command_line_can_leave_the_learned_stage_out(
        capsys: pytest.CaptureFixture[str]) -> None:
    text = "I guess I should just trust you blindly then"
    assert main(["feedback", "--json", "--", text]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] != "calm"
    assert main(["feedback", "--json", "--rules-only", "--", text]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "calm"


# -- honesty is not surveillance; a request is not a demand ----------------------------------------


def test_telling_what_one_did_is_not_watching() -> None:
    fb = analyse("I read your messages last night. I'm not proud of it, and I want to be "
                 "honest with you about why.", setting=HURT)
    assert "policing" not in {f.kind for f in fb.findings} and fb.verdict != "harsh"


def test_a_claim_to_know_who_they_talk_to_is_watching() -> None:
    fb = analyse("I deserve to know who you're talking to", setting=HURT)
    assert fb.verdict == "harsh" and "policing" in {f.kind for f in fb.findings}


def test_a_polite_time_limited_request_is_almost_with_the_note_on_openness() -> None:
    fb = analyse("Would you be willing to share your location with me for the next few weeks, "
                 "while we rebuild trust?", setting=HURT)
    assert fb.verdict == "almost" and [f.kind for f in fb.findings] == ["access_request"]
    assert "works best when it's offered" in fb.findings[0].explanation
    assert "open" in fb.rewrite.lower()


def test_a_learned_finding_names_what_its_examples_were_marked_as() -> None:
    from bot.coach.feedback import shipped_learned

    fb = analyse("Oh I'm sure she's lovely", learned=shipped_learned())
    assert fb.verdict == "harsh" and [f.kind for f in fb.findings] == ["contempt"]
    assert fb.findings[0].explanation.startswith("Sarcasm, mockery or disgust")
    assert "Lines like this often land as harsh, for example: “" in fb.findings[0].explanation


@pytest.mark.parametrize(("text", "kind"), [
    ("Can we drop it?", "stonewalling"),
    ("I'm not doing this again.", "stonewalling"),
    ("Talk to the wall, I'm not listening.", "stonewalling"),
    ("It's my phone, it's private.", "defensiveness"),
    ("I'll talk to whoever I like, I'm an adult.", "defensiveness"),
    ("Who is she?", "accusation_question"),
])
def test_shutting_down_and_defending_are_named(text: str, kind: str) -> None:
    fb = analyse(text)
    assert fb.verdict == "harsh" and kind in {f.kind for f in fb.findings}


@pytest.mark.parametrize("text", [
    "Can we drop it for tonight and talk tomorrow? I'm too tired to do it justice.",
    "I'm too upset to talk well right now. Can we pick this up tomorrow evening?",
])
def test_a_pause_with_a_way_back_is_not_stonewalling(text: str) -> None:
    assert "stonewalling" not in {f.kind for f in analyse(text).findings}


def test_a_denied_feeling_is_never_put_back_in_the_rewrite() -> None:
    for text in ("I'm not angry, I'm just disappointed in how it happened",
                 "I'm not angry, I'm just sad about it"):
        for learned in (None, __import__("bot.coach.feedback").coach.feedback.shipped_learned()):
            assert "I feel angry" not in analyse(text, learned=learned).rewrite


def test_a_line_built_like_a_calm_one_is_not_overruled_by_a_resemblance() -> None:
    from bot.coach.feedback import shipped_learned

    text = "I feel lonely when you're on your phone all evening"
    assert analyse(text, setting=HURT, learned=shipped_learned()).verdict == "calm"


def test_the_one_who_crossed_a_line_is_offered_an_apology_for_any_sharp_line() -> None:
    from bot.coach.feedback import shipped_learned

    fb = analyse("I guess I should just trust you blindly then", setting=CROSSED,
                 learned=shipped_learned())
    assert fb.verdict != "calm" and fb.rewrite.startswith("I'm sorry. What I did hurt you")


def test_the_learned_kind_is_named_only_when_read_clearly_enough() -> None:
    """The kind the learned stage reads most, in the rules' names, above `kind_floor`."""
    from bot.coach.feedback import _kind_read
    from bot.coach.feedback_rules import build_rules, load_rules
    from bot.understanding.learned import Reading

    raw = load_rules()
    rules = build_rules(raw)
    spec = {**raw["kinds"]["learned"], "kind_floor": -0.5}
    reading = Reading("harsh", {"calm": -1.0, "almost": 0.0, "harsh": 0.5}, 0.5, (),
                      {"sarcasm": -0.2, "insult": -0.4, "made_up_kind": 0.9})
    assert _kind_read(reading, spec, rules, "hurt") == "contempt"  # sarcasm, in rules' names
    assert _kind_read(reading, {**spec, "kind_floor": 0.0}, rules, "hurt") == "learned"
    crossed_only = Reading("harsh", reading.scores, 0.5, (), {"but_apology": 0.3})
    assert _kind_read(crossed_only, spec, rules, "crossed") == "but_apology"
    assert _kind_read(crossed_only, spec, rules, "hurt") == "learned"


def test_a_line_in_a_language_the_rules_cannot_read_is_not_judged_with_english_words() -> None:
    """The rules read English; a Spanish line gets no verdict to trust and no score."""
    spanish = Setting(role="hurt", context="rehearsal", language="es")
    fb = analyse("Eres un mentiroso, SIEMPRE me haces lo mismo!!!", setting=spanish)
    assert not fb.read and fb.findings == [] and fb.rewrite == ""
    assert fb.to_dict()["read"] is False
    english = analyse("You are a liar and you ALWAYS do this!!!",
                      setting=Setting(role="hurt", context="rehearsal", language="en"))
    assert english.read and english.verdict == "harsh"


@pytest.mark.parametrize(("text", "watching"), [
    ("voy a revisar su celular todas las noches", True),
    ("quiero ver tus mensajes", True),
    ("le voy a revisar el celular cuando duerma", True),
    ("dame tu contraseña", True),
    ("tienes que compartirme tu ubicación", True),
    ("quiero que me muestres tu celular", True),
    ("le voy a poner un rastreador en el carro", True),
    ("tengo derecho a saber con quién hablas", True),
    ("tu celular se queda en la mesa", True),
    ("Voy a checar su WhatsApp", True),
    ("desbloquéalo y dámelo", True),
    ("vas a dejarme revisar tu celular todas las noches", True),
    ("me reenvías cada mensaje que te mande él", True),
    ("quiero acceso a tu correo para siempre", True),
    ("si no me das tu contraseña, me voy", True),
    # one's own openness, what was done, a request with an end, a refusal
    ("te voy a mostrar mi celular cuando quieras", False),
    ("puedes revisar mi celular", False),
    ("revisé su celular anoche y me siento mal", False),
    ("no voy a revisar su celular", False),
    ("¿estarías dispuesto a compartir tu ubicación unas semanas?", False),
    ("me dolió ver tus mensajes con ella", False),
    ("te comparto mi ubicación siempre", False),
    ("te paso mi celular si quieres, desbloquéalo tú", False),
    ("si no me das un abrazo me muero", False),
])
def test_watching_is_told_apart_in_a_language_the_rules_cannot_judge(
        text: str, watching: bool) -> None:
    """No Spanish line is judged, but one that describes checking the partner is still set
    aside as watching (never coach anyone to police a partner), by `watching_unread`."""
    from bot.coach.feedback import describes_watching

    spanish = Setting(role="hurt", context="boundary", language="es")
    assert describes_watching(text, None, spanish) is watching
    assert not analyse(text, setting=spanish).read  # still not judged
    assert not describes_watching(text, None, Setting(language="fr"))  # no words for French


def test_watching_in_english_is_the_policing_kind() -> None:
    from bot.coach.feedback import describes_watching

    english = Setting(role="hurt", context="boundary", language="en")
    assert describes_watching("I will check his phone every night", None, english)
    assert not describes_watching("I will share my location with you", None, english)


def test_lines_in_a_language_the_rules_cannot_read_are_counted_as_not_judged(tmp_path) -> None:
    data = tmp_path / "lines.yaml"
    data.write_text(yaml.safe_dump({"items": [
        {"text": "Me dolió ver los mensajes. ¿Podemos hablar?", "verdict": "calm", "kinds": [],
         "lang": "es"},
        {"text": "I felt hurt when I saw the messages. Can we talk?", "verdict": "calm",
         "kinds": []}]}), encoding="utf-8")
    result = evaluate("all", data)
    assert result["not_judged"] == 1 and result["accuracy"] == 0.5
    assert "not judged" in format_report(result)


def test_a_line_with_something_to_change_that_reads_as_harsh_is_harsh() -> None:
    """The rules find an "always/never" (almost); the examples read the line as harsh by more
    than `harsher_margin`: harsh, the rules' words first, the reading after them."""
    from bot.coach.feedback import shipped_learned

    line = "You never think about anyone except yourself, and that is exactly why this happened."
    hurt = Setting(role="hurt", context="rehearsal")
    assert analyse(line, setting=hurt).verdict == "almost"  # the rules alone
    fb = analyse(line, setting=hurt, learned=shipped_learned())
    assert fb.verdict == "harsh" and fb.findings[0].kind == "absolute"
    assert fb.findings[-1].end == 0 and "land as harsh" in fb.findings[-1].explanation
    assert "I'm sorry" not in fb.rewrite  # the hurt partner is never handed an apology


BLAME_SHIFTED = ("If you hadn't been so cold all year I would never have needed someone to "
                 "talk to.")


def test_a_harsh_line_gets_the_kind_the_examples_read_when_the_rules_named_another() -> None:
    """The rules hear blame in "if you hadn't been so cold"; the examples read the whole as
    blame-shifting: both are named, the rules' words first."""
    from bot.coach.feedback import shipped_learned
    from bot.coach.feedback_rules import build_rules, load_rules

    crossed = Setting(role="crossed", context="rehearsal")
    alone = analyse(BLAME_SHIFTED, setting=crossed)
    assert alone.verdict == "harsh" and [f.kind for f in alone.findings] == ["you_blame"]
    fb = analyse(BLAME_SHIFTED, setting=crossed, learned=shipped_learned())
    assert [f.kind for f in fb.findings] == ["you_blame", "blame_shift"]
    assert fb.findings[-1].end == 0 and "land as harsh" in fb.findings[-1].explanation
    raw = load_rules()
    spec = {k: v for k, v in raw["kinds"]["learned"].items() if k != "also_kind_floor"}
    rules = build_rules({**raw, "kinds": {**raw["kinds"], "learned": spec}})
    assert analyse(BLAME_SHIFTED, rules, crossed, shipped_learned()).findings == alone.findings
    strict = build_rules({**raw, "kinds": {**raw["kinds"], "learned": {
        **spec, "also_kind_floor": 99.0}}})
    assert analyse(BLAME_SHIFTED, strict, crossed, shipped_learned()).findings == alone.findings


def test_without_a_harsher_margin_the_rules_keep_their_almost() -> None:
    from bot.coach.feedback import shipped_learned
    from bot.coach.feedback_rules import build_rules, load_rules

    raw = load_rules()
    learned_spec = {k: v for k, v in raw["kinds"]["learned"].items() if k != "harsher_margin"}
    rules = build_rules({**raw, "kinds": {**raw["kinds"], "learned": learned_spec}})
    line = "You never think about anyone except yourself, and that is exactly why this happened."
    fb = analyse(line, rules, Setting(role="hurt", context="rehearsal"), shipped_learned())
    assert fb.verdict == "almost"


def test_the_example_a_resemblance_shows_is_never_an_empty_quote() -> None:
    """A line read as harsh with only "almost" lines near it names the nearest of those; with
    only calm lines near it, the explanation names no example rather than an empty “”."""
    def near(*labels: str) -> tuple[tuple[Example, float], ...]:
        return tuple((Example(f"line {n}", label), 0.9 - n / 10) for n, label in enumerate(labels))

    reading = Reading("harsh", {"calm": 0.0, "almost": 0.5, "harsh": 0.6}, 0.1,
                      near("calm", "almost", "calm"))
    assert _resembles(reading, "harsh") == "line 1"
    assert _resembles(dataclasses.replace(reading, nearest=near("harsh", "almost")),
                      "harsh") == "line 0"
    calm_only = dataclasses.replace(reading, nearest=near("calm", "calm"))
    assert _resembles(calm_only, "harsh") == ""
    finding = _learned_finding(calm_only, "harsh", compiled_rules(), None)
    assert finding.kind == "learned" and "“" not in finding.explanation
    assert finding.explanation.endswith("often land as harsh.")
    named = _learned_finding(calm_only, "harsh", compiled_rules(), None, kind="contempt")
    assert named.explanation.endswith("Lines like this often land as harsh.")
