"""What every command shares (bot/cli/common.py): free text spread between options, unknown
options that are never repeated, and the number types of the options."""

from __future__ import annotations

import argparse

import pytest

from bot.cli.common import (
    CoachParser,
    command,
    count,
    looks_like_option,
    positive,
    take_unparsed,
)


def _parse(argv: list[str], text: str | None = "words") -> argparse.Namespace:
    top = CoachParser(prog="coach")
    sub = top.add_subparsers(dest="command", required=True)
    parser = command(sub, "say", None, "say something", text=text)
    parser.add_argument("--json", action="store_true", help="as JSON")
    if text:
        parser.add_argument("words", nargs="*", help="the text")
    args, unparsed = top.parse_known_args(argv)
    take_unparsed(args, unparsed)
    return args


@pytest.mark.parametrize(("argv", "words", "as_json"), [
    (["say", "he", "--json", "said", "no"], ["he", "said", "no"], True),
    (["say", "--json", "--", "-he", "--json"], ["-he", "--json"], True),
    (["say", "he", "--json", "--", "-x", "y"], ["he", "-x", "y"], True),
    (["say", "-5", "degrees", "--json", "-2.5"], ["-5", "degrees", "-2.5"], True),
    (["say", "-", "and", "--store", "memory", "more"], ["-", "and", "more"], False),
    (["say", "-- with spaces"], ["-- with spaces"], False),
])
def test_text_may_surround_options(argv: list[str], words: list[str], as_json: bool) -> None:
    args = _parse(argv)
    assert (args.words, args.json) == (words, as_json)


@pytest.mark.parametrize("argv", [["say", "-hurt", "me"], ["say", "I", "am", "-hurt"],
                                  ["say", "--hurt=yes"], ["say", "--json=hurt"],
                                  ["say", "--help=hurt"]])
def test_an_unknown_option_in_text_is_not_repeated(argv: list[str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        _parse(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: coach say ")
    assert err.endswith("coach say: error: unknown option (put -- before text that starts "
                        "with '-')\n")
    assert "hurt" not in err


def test_a_command_without_text_names_what_it_does_not_know(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse(["say", "--loud", "extra"], text=None)
    assert "coach say: error: unrecognized arguments: --loud extra" in capsys.readouterr().err


def test_option_shapes() -> None:
    assert looks_like_option("-x") and looks_like_option("--json")
    assert not any(looks_like_option(word) for word in ("-", "-5", "-0.5", "-.5", "- x", "x"))


def test_number_types() -> None:
    assert count(1)("3") == 3 and count(0)("0") == 0
    for minimum, text, message in ((1, "0", "must be 1 or more, not 0"),
                                   (1, "many", "'many' is not a whole number")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            count(minimum)(text)
    assert positive("0.5") == 0.5
    for text in ("0", "-1", "nan", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive(text)
