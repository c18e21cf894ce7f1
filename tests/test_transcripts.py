"""Every shipped transcript as its own test, plus proof that the runner can fail.

The transcripts are the counsellors' description of how the shipped flows must behave; running
them here means CI refuses a flow edit that breaks a conversation path.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.app import load_flows
from bot.flowlang.catalog import Catalog
from bot.transcripts import (
    EXIT_USAGE,
    Transcript,
    load_transcripts,
    parse_transcripts,
    play,
    run,
)

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


def test_broken_files_are_reported_with_their_line(tmp_path: Path) -> None:
    (tmp_path / "a_syntax.yaml").write_text("name: x\nturns:\n  - send: [oops\n")
    (tmp_path / "b_shape.yaml").write_text("name: y\nturns:\n  - send: hi\n  - sned: hi\n")
    out = io.StringIO()
    assert run([str(tmp_path)], out) == 1
    lines = out.getvalue().splitlines()
    assert any(line.endswith("a_syntax.yaml:4: YAML syntax error: expected ',' or ']', "
                             "but got '<stream end>'") for line in lines), lines
    assert any("b_shape.yaml:4: unknown key 'sned' in turn 2 (did you mean 'send'?)" in line
               for line in lines), lines
    assert lines[-1] == "0 passed, 2 failed"


def test_run_prints_one_line_per_transcript_and_totals(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(
        "name: good\nturns:\n  - send: /start\n    expect: Are you 18 or older?\n"
        "  - press: yes, i'm 18\n    expect: Which of these fits you today?\n")
    (tmp_path / "bad.yaml").write_text(
        "name: bad\nturns:\n  - send: /start\n    expect: Goodbye forever\n")
    out = io.StringIO()
    assert run([str(tmp_path)], out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith('FAIL bad: turn 1: expected "Goodbye forever" in reply; got: ')
    assert lines[1:] == ["PASS good", "1 passed, 1 failed"]
    out = io.StringIO()
    assert run([str(tmp_path / "good.yaml")], out) == 0
    assert out.getvalue().splitlines() == ["PASS good", "1 passed, 0 failed"]


def test_the_transcripts_to_run_must_be_given(tmp_path: Path) -> None:
    """They are test data, in the repository only: nothing is looked for by default."""
    out = io.StringIO()
    assert run([], out) == EXIT_USAGE == 2
    assert out.getvalue().splitlines() == [
        "coach flows test: give the transcript files or folders to run "
        "(coach flows test PATH...)"]
    out = io.StringIO()
    assert run([str(tmp_path / "missing")], out) == 2
    assert out.getvalue().splitlines() == [f"{tmp_path / 'missing'}:1: no such file or directory"]


def test_yes_and_numbers_stay_text() -> None:
    transcript = _one("turns:\n  - press: Yes\n  - send: 007\n    expect: [No, 12]\n")
    assert transcript.turns[0].press == "Yes"
    assert transcript.turns[1].send == "007"
    assert transcript.turns[1].expect == ("No", "12")
