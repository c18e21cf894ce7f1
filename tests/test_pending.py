"""The core's own question, "delete everything?", as one type with its own handler."""

from __future__ import annotations

from bot.messages import Incoming, UserKey
from bot.pending import DELETE_NO, DELETE_YES, ConfirmDelete
from bot.pipeline import Coach
from bot.turn import Turn

ALICE = UserKey("test", "alice")


def _turn(coach: Coach, **message: str) -> Turn:
    turn = coach.stages.begin(None, Incoming(ALICE, **message), message.get("text"))
    turn.session.pending = ConfirmDelete.kind
    return turn


def test_asking_keeps_the_question_open_with_its_own_buttons(coach: Coach) -> None:
    confirm = coach.stages.confirm_delete
    turn = _turn(coach)
    turn.session.pending = None
    confirm.ask(turn)
    assert turn.session.pending == "delete"
    assert [c.id for c in turn.choices or []] == [DELETE_YES, DELETE_NO]


def test_a_command_leaves_the_question_and_goes_on(coach: Coach) -> None:
    turn = _turn(coach, text="/help")
    assert coach.stages.confirm_delete.answer(turn) is False
    assert turn.session.pending is None and not turn.erase
    assert turn.notes == [coach.texts.get("delete_cancelled")]


def test_the_yes_button_erases(coach: Coach) -> None:
    turn = _turn(coach, button=DELETE_YES)
    assert coach.stages.confirm_delete.answer(turn) is True
    assert turn.erase and turn.controls is False


def test_unclear_words_ask_again(coach: Coach) -> None:
    turn = _turn(coach, text="hmm")
    assert coach.stages.confirm_delete.answer(turn) is True
    assert turn.session.pending == "delete" and not turn.erase
    assert turn.notes == [coach.texts.get("delete_unclear")]
