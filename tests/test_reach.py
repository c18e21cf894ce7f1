"""bot/flowlang/reach.py: which states are reached and which can never be left, the one
answer the check and the map share."""

from __future__ import annotations

from bot.flowlang.model import ChoiceSpec, FlowSpec, Route, StateSpec, Target
from bot.flowlang.reach import cross_flow_entries, dead_ends, reachable, trapped_groups


def _to(state: str) -> Route:
    return Route(Target("state", state=state))


def _flow(**states: StateSpec) -> FlowSpec:
    return FlowSpec("talk", "Talk", "a", dict(states), "talk.yaml")


def _buttons(name: str, *targets: Route) -> StateSpec:
    return StateSpec(name, ("Hi",), choices=tuple(ChoiceSpec(f"go {i}", r)
                                                  for i, r in enumerate(targets)))


def test_reachable_follows_buttons_routes_and_calls_back() -> None:
    flow = _flow(a=_buttons("a", _to("b"), Route(Target("call", state="c", flow="x"))),
                 b=StateSpec("b", next=(Route(Target("return")),)),
                 c=_buttons("c", Route(Target("return"))),
                 lost=_buttons("lost", _to("a")))
    assert reachable(flow, set()) == {"a", "b", "c"}
    assert reachable(flow, {"lost"}) == {"a", "b", "c", "lost"}


def test_dead_ends_are_states_with_no_way_on_and_groups_that_only_go_round() -> None:
    flow = _flow(a=_buttons("a", _to("b"), _to("loop1"), Route(Target("return"))),
                 b=StateSpec("b", ("Nothing more.",)),
                 loop1=_buttons("loop1", _to("loop2")),
                 loop2=_buttons("loop2", _to("loop1")))
    reached = reachable(flow, set())
    assert trapped_groups(flow, reached, "menu") == [["loop1", "loop2"]]
    assert dead_ends(flow, reached, "menu") == ["b", "loop1", "loop2"]


def test_the_home_flows_start_is_a_way_out() -> None:
    flow = _flow(a=_buttons("a", _to("b")), b=_buttons("b", _to("a")))
    assert dead_ends(flow, reachable(flow, set()), home="talk") == []
    assert dead_ends(flow, reachable(flow, set()), home="menu") == ["a", "b"]


def test_entries_from_other_flows_and_the_core() -> None:
    other = FlowSpec("menu", "Menu", "m", {"m": _buttons(
        "m", Route(Target("flow", state="b", flow="talk")))}, "menu.yaml")
    assert cross_flow_entries([other], {"safety": ("violence",)}) == {
        "safety": {"violence"}, "talk": {"b"}}
