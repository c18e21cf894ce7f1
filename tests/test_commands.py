"""The command table: one list the core runs and both chat apps' menus are built from."""

from __future__ import annotations

from bot.commands import BY_NAME, COMMANDS, menu_entries, run_command
from bot.messages import Incoming, UserKey
from bot.pipeline import Coach
from bot.texts import TEXT_IDS


def test_every_command_has_a_description_and_appears_in_the_menus(coach: Coach) -> None:
    for command in COMMANDS:
        assert command.help_id in TEXT_IDS
    listed = [command.name for command, _ in menu_entries(coach.texts)]
    assert listed == [command.name for command in COMMANDS if command.in_menus]
    assert "restart" in listed and "plan" in listed
    assert all(description for _, description in menu_entries(coach.texts))
    assert [c.name for c in COMMANDS if c.takes_topic] == ["start"]


def test_an_unknown_command_says_so_and_changes_nothing(coach: Coach) -> None:
    turn = coach.stages.begin(None, Incoming(UserKey("test", "a")), "/nope")
    run_command(coach.stages, turn, "nope", "")
    assert turn.event == "command_unknown"
    assert turn.notes == [coach.texts.get("unknown_command", command="/nope")]
    assert turn.shown == []


def test_start_with_a_part_that_does_not_exist_names_it_and_shows_the_menu(
        coach: Coach) -> None:
    turn = coach.stages.begin(None, Incoming(UserKey("test", "a")), "/start nowhere")
    BY_NAME["start"].run(coach.stages, turn, "nowhere")
    assert turn.notes == [coach.texts.get("unknown_flow", flow="nowhere")]
    assert turn.shown and turn.session.flow == coach.catalog.home
