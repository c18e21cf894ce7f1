"""Every flow validation error pinned to its file, line, column and message.

Each directory under `tests/fixtures/broken/` is a complete flow set: a minimal valid
`menu.yaml` plus one broken file (or a broken `core/messages.yaml`), written so that only
the intended problem is reported. Their `core/` is a link to the valid set's messages, since
a flows folder without them is itself a problem. Most cases change the same small
`talk.yaml` in one place:

     1 id: talk                                    11     say: What should I call you?
     3 start: intro                                12     ask: {slot: name, max_length: 40}
     5   intro:                                    13     next: thanks
     6     say: Shall we start?                    14   thanks:
     7     choices:                                15     say: Thanks, ${name}.
     8       - {label: Let's start, to: ask_name}  16     next: done
     9       - {label: Not now, flow: menu}        17   done:   (say + one choice, 18-20)

`tests/fixtures/valid/` is a flow set that compiles.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import build_registry, load_catalog
from bot.app import check_flows as check_paths
from bot.flowlang.errors import FlowErrors, FlowProblem
from tests.conftest import CORE_FLOWS

REGISTRY = build_registry()

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BROKEN = HERE / "fixtures" / "broken"
VALID = HERE / "fixtures" / "valid"

# (file in the case directory, line, column, a key phrase of the message)
Expected = tuple[str, int, int, str]


def problems_of(case: str) -> list[FlowProblem]:
    catalog, problems = check_paths([BROKEN / case])
    assert catalog is None, f"{case} compiled, but it should be reported"
    assert problems, f"{case}: no catalog and no problem"
    return problems


def path_of(case: str, name: str) -> str:
    return str(BROKEN / case / name)


def show(problems: list[FlowProblem]) -> str:
    return "\n".join(str(p) for p in problems)


def matches(problem: FlowProblem, case: str, expected: Expected) -> bool:
    name, line, col, phrase = expected
    return (problem.path, problem.line, problem.col) == (path_of(case, name), line, col) and (
        phrase in problem.message
    )


def assert_reported(case: str, *expected: Expected) -> list[FlowProblem]:
    """Exactly these problems, in this (file, line) order."""
    problems = problems_of(case)
    assert len(problems) == len(expected), show(problems)
    for problem, wanted in zip(problems, expected, strict=True):
        assert matches(problem, case, wanted), f"expected {wanted}, got:\n{show(problems)}"
    return problems


def assert_includes(case: str, wanted: Expected) -> list[FlowProblem]:
    problems = problems_of(case)
    assert any(matches(p, case, wanted) for p in problems), (
        f"expected {wanted} among:\n{show(problems)}"
    )
    return problems


T = "talk.yaml"

ONE_PROBLEM: list[tuple[str, Expected]] = [
    # -- the file itself ----------------------------------------------------------------
    ("yaml_syntax", (T, 6, 14, "YAML syntax error: mapping values are not allowed")),
    ("empty_file", (T, 1, 0, "the file is empty; a flow needs id, title, start and states")),
    ("list_not_mapping", (T, 1, 1, "a flow file must be a mapping with id, title, start")),
    ("python_tag", (T, 6, 10, "YAML syntax error: could not determine a constructor for the "
                              "tag 'tag:yaml.org,2002:python/object:os.system'")),
    # -- the flow's own keys ------------------------------------------------------------
    ("missing_id", (T, 1, 1, "missing 'id'")),
    ("missing_title", (T, 1, 1, "missing 'title'")),
    ("missing_start", (T, 1, 1, "missing 'start'")),
    ("bad_id", (T, 1, 5, "id 'Talk-Flow' must be lower-case letters, digits and _")),
    ("duplicate_key", (T, 16, 5, "duplicate key 'say'")),
    # -- unknown keys, with "did you mean" ----------------------------------------------
    ("unknown_key_flow", (T, 3, 1, "unknown key 'descripton' in flow "
                                   "(did you mean 'description'?)")),
    ("unknown_key_state", (T, 15, 5, "unknown key 'sya' in state 'thanks' "
                                     "(did you mean 'say'?)")),
    ("unknown_key_choice", (T, 8, 44, "unknown key 'iff' in choice (did you mean 'if'?)")),
    ("unknown_key_ask", (T, 12, 23, "unknown key 'max_lenght' in ask "
                                    "(did you mean 'max_length'?)")),
    ("unknown_key_route", (T, 16, 22, "unknown key 'unles' in route "
                                      "(did you mean 'unless'?)")),
    # -- targets ------------------------------------------------------------------------
    ("start_missing", (T, 3, 8, "start state 'intor' does not exist "
                                "(did you mean 'intro'?)")),
    ("to_missing", (T, 20, 33, "'intor' is not a state of flow 'talk' "
                               "(did you mean 'intro'?)")),
    ("next_to_missing", (T, 16, 11, "'dnoe' is not a state of flow 'talk' "
                                    "(did you mean 'done'?)")),
    ("flow_missing", (T, 9, 32, "there is no flow 'mneu' (did you mean 'menu'?)")),
    ("flow_at_missing", (T, 9, 42, "'goodbye' is not a state of flow 'menu'")),
    ("call_without_then", (T, 9, 32, "'call' needs 'then'")),
    ("call_then_missing", (T, 9, 44, "'comeback' is not a state of flow 'talk'")),
    # -- the shape of states ------------------------------------------------------------
    ("unreachable", (T, 21, 3, "state 'orphan' can never be reached from 'intro'")),
    ("dead_end", (T, 17, 3, "state 'done' is a dead end")),
    ("ask_without_next", (T, 12, 10, "state 'ask_name' asks for 'name' but has no 'next'")),
    ("next_never_used", (T, 10, 11, "state 'intro' has choices, so its 'next' is never used")),
    ("last_route_condition", (T, 17, 9, "the last route of 'thanks' has a condition")),
    ("all_choices_conditional", (T, 17, 3, "state 'done' may show no buttons: every choice "
                                           "has 'if' or 'unless'. Add a choice without a "
                                           "condition, so there is always a way on")),
    ("self_loop", (T, 17, 3, "state 'done' is a dead end: from here the flow only goes round "
                             "(done -> done) and can never be left")),
    ("menu_button_not_bool", (T, 4, 14, "'menu_button' must be true or false")),
    ("words_not_set", (T, 4, 9, "'words' names 'mood', which no button in this flow sets")),
    ("context_unknown", (T, 12, 14, "'context' must be one of: chat, story, rehearsal, "
                                    "practice, reflection, boundary, safety_question "
                                    "(did you mean 'rehearsal'?)")),
    ("strip_prefix_not_text", (T, 12, 53, "'strip_prefix' must be a phrase or a list of up "
                                          "to 20 phrases")),
    ("address_unknown", (T, 12, 48, "unknown address 'partnr' (did you mean 'partner'?); "
                                    "known: partner")),
    ("address_not_name", (T, 12, 48, "'address' must name who the answer is said to")),
    ("address_without_words", (T, 12, 48, "address 'partner' needs core/person_words.yaml in "
                                          "the flows folder")),
    ("trapped_loop", (T, 17, 3, "state 'done' is a dead end: from here the flow only goes "
                                "round (done -> recap -> done) and can never be left")),
    # -- templates ----------------------------------------------------------------------
    ("template_unknown_slot", (T, 15, 10, "template uses '${nope}', but no flow ever asks "
                                          "for or sets slot 'nope'")),
    ("stray_dollar", (T, 15, 10, "stray '$'")),
    # -- conditions and actions ---------------------------------------------------------
    ("unknown_condition", (T, 8, 48, "unknown condition 'slot_full' "
                                     "(did you mean 'slot_filled'?); known: ")),
    ("unknown_action", (T, 17, 9, "unknown action 'set_slots' "
                                  "(did you mean 'set_slot'?); known: ")),
    ("wrong_condition_argument", (T, 8, 48, "condition 'slot_empty': argument must be a "
                                            "slot name")),
    ("missing_condition_argument", (T, 8, 48, "condition 'slot_empty': needs an argument")),
    ("wrong_action_argument", (T, 17, 9, "action 'clear_slots': argument must be a slot name "
                                         "or a list of slot names")),
    # -- sizes and text -----------------------------------------------------------------
    ("label_too_long", (T, 9, 17, "button label is 63 characters; keep it to 60 or fewer")),
    ("true_label", (T, 9, 17, "'label' must be non-empty text")),
    ("max_length_range", (T, 12, 35, "'max_length' must be a whole number from 1 to 4000")),
    ("min_length_above_max", (T, 12, 51, "'min_length' is larger than 'max_length'")),
    # -- on_text: typed text at a step with buttons ---------------------------------------
    ("on_text_with_ask", (T, 13, 5, "'on_text' is for a state with buttons and no 'ask' "
                                    "(an ask already keeps typed text)")),
    ("on_text_without_next", (T, 10, 14, "state 'intro' keeps text in 'story' but has no "
                                         "'next' to go to after it")),
    ("slot_mentions_bad", (T, 12, 26, "condition 'slot_has_words': 'any' must be a list of "
                                      "phrases")),
    # -- the core's messages file -------------------------------------------------------
    ("messages_placeholder", ("core/messages.yaml", 9, 12, "message 'too_short' uses "
                                                           "'${mn}', which the core does not "
                                                           "fill; it may use min")),
]

SEVERAL_PROBLEMS: list[tuple[str, list[Expected]]] = [
    # Without states the start state cannot exist either.
    ("missing_states", [
        (T, 1, 1, "'states' must be a mapping of state names to states"),
        (T, 3, 8, "start state 'intro' does not exist"),
    ]),
    # Each state of the loop is reported where it is defined.
    ("auto_loop", [
        (T, 14, 3, "states move on by themselves in a loop: thanks -> recap -> thanks"),
    ]),
    ("duplicate_flow_id", [
        ("talk_again.yaml", 1, 5, "duplicate flow id 'talk' (also in "
                                  f"{path_of('duplicate_flow_id', 'talk.yaml')})"),
    ]),
    ("messages_ids", [
        ("core/messages.yaml", 2, 1, "message 'sos' is missing"),
        ("core/messages.yaml", 4, 1, "unknown message id 'hlep' (did you mean 'help'?)"),
    ]),
    ("three_problems", [
        ("menu.yaml", 9, 3, "state 'stray' can never be reached from 'welcome'"),
        (T, 6, 10, "template uses '${who}'"),
        (T, 17, 5, "unknown key 'sya' in state 'thanks' (did you mean 'say'?)"),
        (T, 22, 3, "state 'lost' can never be reached from 'intro'"),
    ]),
]

# Cases that show validator bugs; see the tests at the end of this module.
BUG_CASES = {
    "recursive_anchor",
    "choice_after_bad_choice",
    "say_after_bad_say",
    "numeric_state_name",
    "duplicate_flow_id_hides",
    "conditional_auto_loop",
}


@pytest.mark.parametrize(("case", "expected"), ONE_PROBLEM, ids=[c for c, _ in ONE_PROBLEM])
def test_each_error_is_pinned_to_its_file_line_and_message(case: str, expected: Expected) -> None:
    assert_reported(case, expected)


@pytest.mark.parametrize(
    ("case", "expected"), SEVERAL_PROBLEMS, ids=[c for c, _ in SEVERAL_PROBLEMS]
)
def test_cases_with_several_problems(case: str, expected: list[Expected]) -> None:
    assert_reported(case, *expected)


def test_every_broken_fixture_is_covered() -> None:
    covered = {c for c, _ in ONE_PROBLEM} | {c for c, _ in SEVERAL_PROBLEMS} | BUG_CASES
    on_disk = {p.name for p in BROKEN.iterdir() if p.is_dir()}
    assert on_disk == covered


def test_problem_text_is_path_line_col_message() -> None:
    """A problem in a state ends with the state's id on the flow map (`coach flows graph`)."""
    [problem] = problems_of("unknown_key_state")
    assert str(problem) == (f"{path_of('unknown_key_state', T)}:15:5: unknown key 'sya' in "
                            "state 'thanks' (did you mean 'say'?) [map: talk.thanks]")
    [empty] = problems_of("empty_file")  # no column: path:line: message
    assert str(empty).startswith(f"{path_of('empty_file', T)}:1: the file is empty")


@pytest.mark.parametrize(("case", "known"), [
    ("unknown_condition", REGISTRY.conditions),
    ("unknown_action", REGISTRY.actions),
])
def test_unknown_names_list_the_known_ones(case: str, known: dict) -> None:
    [problem] = problems_of(case)
    assert problem.message.endswith(f"; known: {', '.join(sorted(known))}")
    for name in (("slot_filled", "slot_empty", "slot_is", "can_continue", "config_set")
                 if known is REGISTRY.conditions else ("set_slot", "clear_slots")):
        assert name in problem.message


def test_a_python_tag_is_never_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "menu.yaml").write_text(
        "id: menu\ntitle: Main menu\nstart: welcome\nstates:\n  welcome:\n"
        f"    say: !!python/object/apply:os.system ['touch {marker}']\n"
        "    choices:\n      - {label: Again, to: welcome}\n", encoding="utf-8")
    catalog, problems = check_paths([tmp_path / "menu.yaml"])
    assert catalog is None
    assert not marker.exists()
    [problem] = problems
    assert (problem.path, problem.line, problem.col) == (str(tmp_path / "menu.yaml"), 6, 10)
    assert problem.message.startswith("YAML syntax error: could not determine a constructor "
                                      "for the tag 'tag:yaml.org,2002:python/object/apply")


# -- all at once, in order --------------------------------------------------------------


def test_all_problems_of_one_file_are_reported_at_once() -> None:
    problems = problems_of("three_problems")
    talk = [p for p in problems if p.path == path_of("three_problems", T)]
    # three different problems, found by three different checks, one line each
    assert [(p.line, p.col) for p in talk] == [(6, 10), (17, 5), (22, 3)]
    assert len({p.message.split("'")[0] for p in talk}) == 3


def test_problems_are_sorted_by_file_and_line() -> None:
    # The unknown key (line 17) is found while parsing, before the template (line 6) and
    # the unreachable states (menu.yaml, talk.yaml) are found across the whole set.
    problems = problems_of("three_problems")
    assert problems == sorted(problems)
    keys = [(p.path, p.line, p.col) for p in problems]
    assert keys == sorted(keys)
    assert [Path(p.path).name for p in problems] == ["menu.yaml", T, T, T]


def test_load_catalog_raises_every_problem_sorted() -> None:
    with pytest.raises(FlowErrors) as caught:
        load_catalog([BROKEN / "three_problems"])
    problems = problems_of("three_problems")
    assert caught.value.problems == problems
    assert str(caught.value).splitlines() == [str(p) for p in problems]


def test_problems_from_several_paths_are_merged_and_sorted() -> None:
    catalog, problems = check_paths([BROKEN / "yaml_syntax" / T, BROKEN / "dead_end"])
    assert catalog is None
    assert [(p.path, p.line) for p in problems] == [
        (path_of("dead_end", T), 17), (path_of("yaml_syntax", T), 6)]


# -- a valid set compiles ---------------------------------------------------------------


@pytest.fixture(scope="module")
def valid():
    catalog, problems = check_paths([VALID])
    assert problems == []
    assert catalog is not None
    return catalog


def test_yes_no_on_off_labels_are_text(valid) -> None:
    intro = valid.flows["talk"].spec.states["intro"]
    assert [c.label for c in intro.choices] == ["Yes", "No", "On", "Off"]


def test_a_valid_set_loads_with_its_messages() -> None:
    catalog = load_catalog([VALID])
    assert catalog.texts is not None
    assert catalog.texts.get("too_long", max=10, length=12) == (
        "That's 12 characters; please keep it under 10.")
    assert catalog.home == "menu"


# -- the command line -------------------------------------------------------------------


def coach(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COACH_FLOWS_DIR"}
    return subprocess.run(
        [sys.executable, "-m", "bot", "flows", "check", *map(str, args)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.mark.parametrize("case", [
    "three_problems", "yaml_syntax", "empty_file", "python_tag", "messages_ids",
    "recursive_anchor",
])
def test_cli_reports_broken_flows_as_lines_and_exits_2(case: str) -> None:
    done = coach(BROKEN / case)
    assert "Traceback" not in done.stderr
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    *lines, summary = done.stderr.splitlines()
    assert re.fullmatch(r"\d+ problem\(s\) found\.", summary)
    where = re.escape(str(BROKEN / case))
    for line in lines:
        assert re.match(rf"{where}/\S+\.yaml:\d+(:\d+)?: \S", line), line
    assert lines == [str(p) for p in problems_of(case)]


def test_cli_three_problems_exact_output() -> None:
    done = coach(BROKEN / "three_problems")
    talk = path_of("three_problems", T)
    assert done.stderr.splitlines() == [
        f"{path_of('three_problems', 'menu.yaml')}:9:3: state 'stray' can never be reached "
        "from 'welcome' [map: menu.stray]",
        f"{talk}:6:10: template uses '${{who}}', but no flow ever asks for or sets slot 'who' "
        "[map: talk.intro]",
        f"{talk}:17:5: unknown key 'sya' in state 'thanks' (did you mean 'say'?) "
        "[map: talk.thanks]",
        f"{talk}:22:3: state 'lost' can never be reached from 'intro' [map: talk.lost]",
        "4 problem(s) found.",
    ]


def test_cli_without_a_path_checks_the_shipped_flows() -> None:
    done = coach()
    assert "Traceback" not in done.stderr
    catalog, problems = check_paths([REPO / "flows"])
    if catalog is None:
        assert done.returncode == 2
        assert done.stderr.splitlines()[:-1] == [str(p) for p in problems]
    else:
        assert done.returncode == 0
        assert done.stdout.startswith(f"ok: {len(catalog.flows)} flows, ")


def test_cli_shipped_flows_are_ok() -> None:
    done = coach()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok:")
    assert "Traceback" not in done.stderr


def test_cli_checks_a_folder_as_the_start_up_does(tmp_path: Path) -> None:
    """A folder without the core's messages used to pass the check and then refuse to start."""
    flows = tmp_path / "flows"
    shutil.copytree(CORE_FLOWS, flows)
    shutil.rmtree(flows / "core")
    done = coach(flows)
    assert done.returncode == 2, done.stdout
    assert done.stderr.splitlines() == [
        f"{flows / 'core' / 'messages.yaml'}:1: the core's own messages are missing: every "
        "flows folder needs this file (copy it from the shipped flows)",
        "1 problem(s) found."]
    env = {**os.environ, "COACH_FLOWS_DIR": str(flows)}
    started = subprocess.run([sys.executable, "-m", "bot", "--store", "memory", "chat"],
                             input="", capture_output=True, text=True, cwd=REPO, env=env,
                             timeout=60)
    assert started.returncode == 2 and "messages are missing" in started.stderr


def test_cli_checks_one_shipped_file_against_its_folder() -> None:
    done = coach(REPO / "flows" / "boundaries.yaml")
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"ok: 1 flow, \d+ states checked in \d+ ms\n", done.stdout)


def test_one_file_reports_only_its_own_problems() -> None:
    case = "three_problems"
    _, problems = check_paths([BROKEN / case / T])
    assert [(Path(p.path).name, p.line) for p in problems] == [(T, 6), (T, 17), (T, 22)]
    _, problems = check_paths([BROKEN / case / "menu.yaml"])
    assert [(Path(p.path).name, p.line) for p in problems] == [("menu.yaml", 9)]
    # talk.yaml's `flow: menu` resolves against menu.yaml beside it, and vice versa
    catalog, problems = check_paths([BROKEN / "unreachable" / "menu.yaml"])
    assert problems == [] and catalog is not None
    done = coach(BROKEN / case / T, BROKEN / "unreachable" / "menu.yaml")
    assert done.returncode == 2
    assert [line.split(":")[0] for line in done.stderr.splitlines()[:-1]] == [
        path_of(case, T)] * 3


def test_a_file_and_its_folder_are_checked_once() -> None:
    catalog, problems = check_paths([VALID, VALID / "talk.yaml"])
    assert problems == [] and catalog is not None


def test_cli_help_says_how_files_are_checked() -> None:
    done = subprocess.run([sys.executable, "-m", "bot", "flows", "check", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert "only its own problems are" in " ".join(done.stdout.split())


def test_cli_nonexistent_path_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_flows"
    done = coach(missing)
    assert done.returncode == 2
    assert done.stderr.startswith(f"{missing}:1: ")
    assert "no such file or directory" in done.stderr
    assert "Traceback" not in done.stderr


# -- validator bugs: these fail until bot/flowlang is fixed -----------------------------


def test_bug_recursive_anchor_is_a_problem_not_a_traceback() -> None:
    # `say: &loop [Shall we start, *loop]` (line 6): _walk in source.py follows the alias
    # forever and check_paths raises RecursionError.
    catalog, problems = check_paths([BROKEN / "recursive_anchor"])
    assert catalog is None
    assert any(p.path == path_of("recursive_anchor", T) and p.line == 6 for p in problems)


def test_bug_problem_in_a_choice_after_an_invalid_choice_has_its_own_line() -> None:
    # Choice 0 (line 8) has no target and is dropped, so the next choice's wrong target is
    # reported at choice 0's position instead of line 9.
    assert_includes("choice_after_bad_choice", (T, 8, 9, "say where this leads"))
    assert_includes("choice_after_bad_choice", (T, 9, 28, "'ask_nmae' is not a state"))


def test_bug_problem_in_a_message_after_an_invalid_message_has_its_own_line() -> None:
    # say item 0 (line 16) is a list and is dropped; item 1's unknown slot is reported on
    # line 16 instead of 17.
    assert_includes("say_after_bad_say", (T, 16, 9, "each 'say' message must be non-empty"))
    assert_includes("say_after_bad_say", (T, 17, 9, "template uses '${nope}'"))


def test_bug_bad_numeric_state_name_points_at_the_state() -> None:
    # `1:` (line 21) is read as the integer 1; the position lookup uses the int while the
    # positions are stored under the string '1', so it falls back to `states:` (line 4).
    assert_includes("numeric_state_name", (T, 21, 3, "state name '1' must be lower-case"))


def test_bug_duplicate_flow_id_does_not_hide_the_files_other_problems() -> None:
    # talk_again.yaml repeats id 'talk' and also has `flow: mneu` on line 9; only the
    # duplicate id is reported, the file is then left out of every other check.
    case = "duplicate_flow_id_hides"
    assert_includes(case, ("talk_again.yaml", 1, 5, "duplicate flow id 'talk'"))
    assert_includes(case, ("talk_again.yaml", 9, 32, "there is no flow 'mneu'"))


def test_bug_auto_loop_through_a_fallback_route_is_reported() -> None:
    # thanks: next [{to: recap, if: can_continue}, {to: again}]; again: next thanks.
    # Whenever can_continue is false, thanks -> again -> thanks never waits for the person.
    # The loop check only follows the first self-moving target of each state (recap).
    problems = problems_of("conditional_auto_loop")
    assert any(p.path == path_of("conditional_auto_loop", T) and p.line in (14, 22)
               and "move on by themselves in a loop" in p.message for p in problems), (
        show(problems))


def test_broken_rule_files_stop_the_check(tmp_path: Path) -> None:
    """The safety screen's and the coach's rule files are compiled with the flows."""
    import shutil

    flows = tmp_path / "flows"
    shutil.copytree(REPO / "flows", flows)
    screen_rules = flows / "safety" / "screen_rules.yaml"
    screen_rules.write_text(screen_rules.read_text().replace("\nrules:", "\nrulez:", 1))
    feedback_rules = flows / "coach" / "feedback_rules.yaml"
    feedback_rules.write_text(feedback_rules.read_text() + "\n  broken: [unclosed\n")
    catalog, problems = check_paths([flows])
    assert catalog is None
    where = {(Path(p.path).name, p.line) for p in problems}
    assert ("screen_rules.yaml", 1) in where
    assert any(name == "feedback_rules.yaml" and line > 1 for name, line in where)
