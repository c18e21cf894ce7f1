"""Telling what kind of thing a practice line is, with the shipped cue words."""

from __future__ import annotations

import pytest

from bot.app import load_flows
from bot.coach.coaching import Coaching
from bot.coach.feedback import analyse
from bot.coach.moves import MoveCues, read_move
from bot.setting import Setting


@pytest.fixture(scope="module")
def cues() -> MoveCues:
    coaching = load_flows().services["coaching"]
    assert isinstance(coaching, Coaching) and coaching.moves is not None
    return coaching.moves


def _move(text: str, cues: MoveCues, role: str = "hurt") -> str:
    fb = analyse(text, setting=Setting(role, "practice"))
    return read_move(text, [f.kind for f in fb.findings], cues, fb.positives)


@pytest.mark.parametrize("text, move", [
    ("You always do this. You never think about me.", "accusation"),
    ("Why would you hide that from me?", "accusation"),
    ("You're a liar.", "accusation"),
    ("I feel hurt when you keep your phone face down.", "feeling"),
    ("I've been feeling really lonely lately", "feeling"),
    ("I've been so worried every single night you go out", "feeling"),
    ("honestly im devastated", "feeling"),
    ("I feel like you never cared about us", "accusation"),
    ("What does she mean to you?", "question"),
    ("how do you see it", "question"),
    ("Could we put our phones away when we eat together?", "request"),
    ("Would you be willing to talk to me first next time", "request"),
    ("I'd like us to agree that exes are off limits for late-night chats.", "boundary"),
    ("From now on can we both be open about new friends?", "boundary"),
    ("Oh sure, just a friend.", "sarcasm"),
    ("Great, thanks for nothing.", "sarcasm"),
    ("ok", "short"),
    ("...", "short"),
    ("idk", "short"),
    ("fine", "short"),
    ("I went to the shop after work and then came home.", "other"),
])
def test_the_hurt_partner_s_lines(cues: MoveCues, text: str, move: str) -> None:
    assert _move(text, cues) == move


@pytest.mark.parametrize("text, move", [
    ("I'm sorry. I was wrong to hide it from you.", "apology"),
    ("I'm sorry, but you were never home.", "but_apology"),
    ("sorry but it was just chatting", "but_apology"),
    ("I'm sorry you feel that way.", "non_apology"),
    ("Sorry if you were upset.", "non_apology"),
    ("I messed up and I know it hurt you.", "apology"),
])
def test_apologies_from_the_one_who_crossed_a_line(cues: MoveCues, text: str,
                                                   move: str) -> None:
    assert _move(text, cues, "crossed") == move


def test_a_feeling_in_few_words_is_not_a_short_reply(cues: MoveCues) -> None:
    assert read_move("I'm hurt.", [], cues) == "feeling"
    assert read_move("Okay", [], cues) == "short"
    assert read_move("", [], cues) == "short"


def test_the_coach_s_findings_come_before_the_cue_words(cues: MoveCues) -> None:
    # "please" is a request word, but a line the coach reads as contempt is a jab
    assert read_move("Oh please, please spare me", ["contempt"], cues) == "sarcasm"
    assert read_move("Can you stop lying for once?", ["you_blame"], cues) == "accusation"


def test_cues_are_whole_words(cues: MoveCues) -> None:
    assert read_move("I'm okay with that plan", [], cues) != "short"
    assert read_move("Sorrowful days ahead for the garden club", [], cues) == "other"
