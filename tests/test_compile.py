"""One `transitions` machine per flow: its conditions choose the route, and the state it
lands on is the person's next state."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from transitions import Machine

from bot.app import build_registry, check_flows
from bot.flowlang.catalog import Catalog
from bot.flowlang.compile import Place
from tests.conftest import FIXTURES

VALID = FIXTURES / "valid"


@pytest.fixture(scope="module")
def valid() -> Catalog:
    catalog, problems = check_flows([VALID])
    assert problems == [] and catalog is not None
    return catalog


def test_a_valid_set_compiles_to_one_machine_per_flow(valid: Catalog) -> None:
    assert set(valid.flows) == {"menu", "talk"}
    for flow_id, compiled in valid.flows.items():
        assert compiled.spec.id == flow_id
        assert isinstance(compiled.machine, Machine)
        assert compiled.machine.auto_transitions is False
        for state in compiled.spec.states:
            assert f"to_{state}" not in compiled.machine.events
        assert compiled.machine.models == []  # people's places are never kept in a machine
    assert valid.slots == {"name", "role"}
    assert valid.questions == {"name": "What should I call you?"}


def test_only_declared_triggers_are_valid_in_a_state(valid: Catalog) -> None:
    talk = valid.flows["talk"]
    assert "to_intro" not in talk.machine.events
    declared = {
        "intro": {"pick_0", "pick_1", "pick_2", "pick_3"},
        "ask_name": {"answer", "skip"},
        "anonymous": {"advance"},
        "thanks": {"advance"},
        "done": {"pick_0", "pick_1"},
    }
    for state, triggers in declared.items():
        assert set(talk.machine.get_triggers(state)) == triggers
    ctx = SimpleNamespace()
    for undeclared in ("to_intro", "to_done", "answer", "advance", "skip", "pick_4", "x y"):
        assert talk.fire("intro", undeclared, ctx) is None
    fired = talk.fire("intro", "pick_0", ctx)
    assert fired is not None and fired.state == "ask_name"
    assert fired.route.target.state == "ask_name"
    fired = talk.fire("anonymous", "advance", ctx)
    assert fired is not None and fired.state == "thanks"


def test_conditions_choose_the_route_through_the_one_evaluator(tmp_path) -> None:
    """The machine's conditions are the registry's `holds`: the same answer decides the
    route taken and whether a button shows."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "messages.yaml").write_text(
        (VALID / "core" / "messages.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "menu.yaml").write_text("""\
id: menu
title: Menu
start: hub
states:
  hub:
    say: Hi.
    ask: {slot: name, max_length: 20}
    next:
      - {to: named_sam, if: {slot_is: {name: Sam}}}
      - {to: anyone}
  named_sam:
    say: Hello Sam.
    choices:
      - {label: Again, to: hub}
  anyone:
    say: Hello.
    choices:
      - {label: Again, to: hub}
""", encoding="utf-8")
    registry = build_registry()
    asked: list[tuple[str, ...]] = []
    holds = registry.holds

    def counting(ctx, conditions):  # type: ignore[no-untyped-def]
        asked.append(tuple(c.name for c in conditions))
        return holds(ctx, conditions)

    registry.holds = counting  # type: ignore[method-assign]
    catalog, problems = check_flows([tmp_path], registry)
    assert problems == [] and catalog is not None
    menu = catalog.flows["menu"]
    sam = SimpleNamespace(session=SimpleNamespace(slots={"name": "Sam"}))
    other = SimpleNamespace(session=SimpleNamespace(slots={"name": "Kim"}))
    fired = menu.fire("hub", "answer", sam)
    assert fired is not None and fired.state == "named_sam"
    fired = menu.fire("hub", "answer", other)
    assert fired is not None and fired.state == "anyone"
    assert asked == [("slot_is",), ("slot_is",)]


def test_a_place_is_made_for_each_call() -> None:
    first, second = Place("a"), Place("a")
    first.state = "b"
    assert second.state == "a" and second.route is None
