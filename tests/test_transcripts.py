"""Every shipped transcript as its own test, plus proof that the runner can fail.

The transcripts are the counsellors' description of how the shipped flows must behave; running
them here means CI refuses a flow edit that breaks a conversation path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import load_flows
from bot.cli import main
from bot.flowlang.catalog import Catalog
from bot.transcripts import Transcript, load_transcripts, parse_transcripts, play

TRANSCRIPTS = Path(__file__).parent / "transcripts"  # test data: the wheel does not carry it
SHIPPED, SHIPPED_PROBLEMS = load_transcripts([TRANSCRIPTS])


@pytest.fixture(scope="module")
def shipped_flows() -> Catalog:
    return load_flows()


def test_shipped_transcripts_load_cleanly() -> None:
    assert [str(p) for p in SHIPPED_PROBLEMS] == []
    assert len(SHIPPED) >= 9


@pytest.mark.parametrize("transcript", SHIPPED, ids=[t.name for t in SHIPPED])
async def test_shipped_transcript(transcript: Transcript, shipped_flows: Catalog) -> None:
    outcome = await play(transcript, shipped_flows)
    assert outcome.failure is None, outcome.summary() + "\n" + "\n".join(outcome.trace)


def run(paths: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`coach flows test PATHS...`: the exit code and the report (stdout)."""
    code = main(["flows", "test", *paths])
    return code, capsys.readouterr().out


def _one(text: str) -> Transcript:
    transcripts, problems = parse_transcripts(text, "t.yaml")
    assert problems == []
    return transcripts[0]


async def test_a_wrong_expectation_fails(shipped_flows: Catalog) -> None:
    transcript = _one("name: wrong\nturns:\n  - send: /start\n"
                      "    expect: words the coach never says\n")
    outcome = await play(transcript, shipped_flows)
    assert not outcome.passed
    assert outcome.summary().startswith(
        'FAIL wrong: turn 1: expected "words the coach never says" in reply; got: ')


async def test_each_kind_of_expectation_can_fail(shipped_flows: Catalog) -> None:
    cases = {
        "expect_not: 18 or older": 'expected "18 or older" not in reply',
        "expect_buttons: No such button": 'expected button "No such button"',
        "expect_pattern: '^Nope'": "expected pattern /^Nope/",
    }
    for line, message in cases.items():
        outcome = await play(_one(f"turns:\n  - send: /start\n    {line}\n"), shipped_flows)
        assert outcome.failure is not None and message in outcome.failure, line


async def test_pressing_a_missing_button_fails(shipped_flows: Catalog) -> None:
    transcript = _one("turns:\n  - send: /start\n  - press: Fly me to the moon\n")
    outcome = await play(transcript, shipped_flows)
    assert outcome.failure is not None
    assert outcome.failure.startswith('turn 2: no button "Fly me to the moon"')


def test_broken_files_are_reported_with_their_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a_syntax.yaml").write_text("name: x\nturns:\n  - send: [oops\n")
    (tmp_path / "b_shape.yaml").write_text("name: y\nturns:\n  - send: hi\n  - sned: hi\n")
    code, out = run([str(tmp_path)], capsys)
    assert code == 1
    lines = out.splitlines()
    assert any(line.endswith("a_syntax.yaml:4: YAML syntax error: did not find expected ',' "
                             "or ']'") for line in lines), lines  # libyaml's words, as for flows
    assert any("b_shape.yaml:4: unknown key 'sned' in turn 2 (did you mean 'send'?)" in line
               for line in lines), lines
    assert lines[-1] == "0 passed, 2 failed"


def test_run_prints_one_line_per_transcript_and_totals(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.yaml").write_text(
        "name: good\nturns:\n  - send: /start\n    expect: Are you 18 or older?\n"
        "  - press: yes, i'm 18\n    expect: Which of these fits you today?\n")
    (tmp_path / "bad.yaml").write_text(
        "name: bad\nturns:\n  - send: /start\n    expect: Goodbye forever\n")
    code, out = run([str(tmp_path)], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith('FAIL bad: turn 1: expected "Goodbye forever" in reply; got: ')
    assert lines[1:] == ["PASS good", "1 passed, 1 failed"]
    code, out = run([str(tmp_path / "good.yaml")], capsys)
    assert code == 0
    assert out.splitlines() == ["PASS good", "1 passed, 0 failed"]


def test_the_transcripts_to_run_must_be_given(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """They are test data, in the repository only: nothing is looked for by default."""
    assert run([], capsys) == (2, "coach flows test: give the transcript files or folders to "
                                  "run (coach flows test PATH...)\n")
    code, out = run([str(tmp_path / "missing")], capsys)
    assert code == 2
    assert out.splitlines() == [f"{tmp_path / 'missing'}:1: no such file or directory"]


def test_yes_and_numbers_stay_text() -> None:
    transcript = _one("turns:\n  - press: Yes\n  - send: 007\n    expect: [No, 12]\n")
    assert transcript.turns[0].press == "Yes"
    assert transcript.turns[1].send == "007"
    assert transcript.turns[1].expect == ("No", "12")


def test_numbers_and_booleans_are_read_as_written() -> None:
    transcript = _one("turns:\n  - send: 1_000  # a comment\n    expect: 0\n"
                      "  - send: true\n    expect: [0x1F, -1.50]\n  - send: 'yes'\n"
                      "  - press: on\n")
    assert [t.send for t in transcript.turns[:3]] == ["1_000", "true", "yes"]
    assert transcript.turns[0].expect == ("0",)
    assert transcript.turns[1].expect == ("0x1F", "-1.50")
    assert transcript.turns[3].press == "on"


def test_a_key_written_twice_is_reported_with_its_line() -> None:
    """The flows' YAML reader: a second `expect` would silently replace the first."""
    transcripts, problems = parse_transcripts(
        "name: twice\nturns:\n  - send: hi\n    expect: a\n    expect: b\n", "t.yaml")
    assert transcripts == []
    assert [str(p) for p in problems] == ["t.yaml:5: duplicate key 'expect'"]


def test_an_alias_that_contains_itself_is_reported_not_followed() -> None:
    transcripts, problems = parse_transcripts(
        "name: loop\nturns: &turns\n  - send: hi\n    expect: *turns\n", "t.yaml")
    assert transcripts == []
    assert [str(p) for p in problems] == [
        "t.yaml:2: an alias refers to itself; YAML anchors here must not loop"]


def test_aliases_are_read_once_however_often_they_are_used() -> None:
    """A "billion laughs" file stays small: each anchored list is walked once."""
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefghij":
        previous = chr(ord(level) - 1)
        text += f"{level}: &{level} [{', '.join(['*' + previous] * 10)}]\n"
    text += "turns:\n  - send: hi\n"
    transcripts, problems = parse_transcripts(text, "laughs.yaml")
    assert transcripts == []
    assert [p.message for p in problems][:1] == [
        "unknown key 'a' in transcript"], problems


def test_an_empty_file_is_not_a_transcript() -> None:
    transcripts, problems = parse_transcripts("# only a comment\n\n", "e.yaml")
    assert transcripts == []
    assert [str(p) for p in problems] == [
        "e.yaml:1: a transcript file must be a mapping with 'turns' (or a list of such "
        "mappings)"]


def test_typographic_quotes_match_straight_ones(shipped_flows: Catalog) -> None:
    """bot.quotes folds them, as for everything people type: “18” matches "18"."""
    from bot.messages import Reply
    from bot.transcripts import check_reply

    turn = _one("turns:\n  - send: hi\n    expect: \"I\u2019m \u201cfine\u201d \u00b4ok\u00b4\"\n"
                ).turns[0]
    assert check_reply(turn, Reply(parts=["I'm \"fine\" 'ok'"])) is None


def test_two_people_are_named_and_an_unknown_one_is_a_problem() -> None:
    from bot.transcripts import parse_transcripts

    good = ("people: {alex: telegram, sam: discord}\n"
            "turns:\n  - {as: alex, send: /start}\n  - {as: sam, send: \"/pair ${code}\"}\n")
    [transcript], problems = parse_transcripts(good, "t.yaml")
    assert problems == [] and transcript.people == {"alex": "telegram", "sam": "discord"}
    assert [t.person for t in transcript.turns] == ["alex", "sam"]
    assert transcript.turns[1].describe() == "sam: /pair ${code}"
    bad = "people: {alex: telegram}\nturns:\n  - {as: kim, send: /start}\n"
    _, problems = parse_transcripts(bad, "t.yaml")
    assert [str(p) for p in problems] == [
        "t.yaml:3: 'as: kim' is not one of the people (alex)"]
