"""bot/flowlang/graph.py: the flow map as nodes and edges, from a tiny flows folder with a
button edge, typed text, a condition, a hand-off, a call, a return, a dead end and an
unreachable state (tests/fixtures/flow_map, copied to tmp_path)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.flowlang.catalog import flow_files, parse_all
from bot.flowlang.errors import FlowProblem
from bot.flowlang.graph import Edge, FlowMap, Jump, build_maps, short_condition
from bot.flowlang.model import Call

FIXTURE = Path(__file__).parent / "fixtures" / "flow_map"
SAFETY = ("violence", "coercive_control", "self_harm", "unsure")
JUMPS = [*(Jump("safety", f"flagged: {s}", "safety", s) for s in SAFETY),
         Jump("command", "/start, /menu", "menu"), Jump("command", "/restart")]


@pytest.fixture
def maps(tmp_path: Path) -> dict[str, FlowMap]:
    folder = tmp_path / "flows"
    shutil.copytree(FIXTURE, folder)
    problems: list[FlowProblem] = []
    flows = [flow for flow, _ in parse_all(flow_files([folder]), problems)]
    assert problems == []
    return {m.flow: m for m in build_maps(flows, JUMPS, {"safety": SAFETY})}


def _edges(flow_map: FlowMap, source: str) -> list[Edge]:
    return [e for e in flow_map.edges if e.source == source]


def test_states_are_nodes_with_stable_readable_ids(maps: dict[str, FlowMap]) -> None:
    talk = maps["talk"]
    assert [n.id for n in talk.nodes] == ["talk.intro", "talk.ask_name", "talk.thanks",
                                          "talk.stuck", "talk.lost"]
    kinds = {n.id: n.kind for n in talk.nodes}
    assert kinds["talk.intro"] == "buttons" and kinds["talk.ask_name"] == "ask"
    start = [n.id for n in talk.nodes if n.start]
    assert start == ["talk.intro"]
    ask = next(n for n in talk.nodes if n.id == "talk.ask_name")
    assert "asks: name" in ask.detail and "context: rehearsal" in ask.detail
    assert talk.context == "story"


def test_dead_ends_and_unreachable_states_are_marked(maps: dict[str, FlowMap]) -> None:
    assert maps["talk"].dead_ends == ["talk.stuck"]
    assert maps["talk"].unreachable == ["talk.lost"]
    assert maps["menu"].dead_ends == [] and maps["menu"].unreachable == []
    # entered from the core (the safety screen) or from another flow: reached
    assert maps["safety"].unreachable == []


def test_buttons_typed_text_and_conditions_are_edges(maps: dict[str, FlowMap]) -> None:
    talk = maps["talk"]
    assert Edge("talk.intro", "talk.ask_name", "button", "[Let's start]") in talk.edges
    typed = _edges(talk, "talk.ask_name")
    assert [(e.target, e.kind, e.condition) for e in typed] == [
        ("talk.stuck", "text", "if slot_is name=Sam"), ("talk.thanks", "text", "")]
    assert all("[Skip this one]" in e.label for e in typed)
    menu = maps["menu"]
    assert Edge("menu.welcome", "talk.ask_name", "flow", "[Straight to my name]",
                "if slot_filled name") in menu.edges


def test_hand_offs_calls_and_returns(maps: dict[str, FlowMap]) -> None:
    talk = maps["talk"]
    assert Edge("talk.intro", "menu.welcome", "flow", "[Not now]") in talk.edges
    thanks = _edges(talk, "talk.thanks")
    assert Edge("talk.thanks", "safety.check_in", "call",
                '[Help and "safety" options] · call') in thanks
    assert Edge("talk.thanks", "talk.intro", "back", "when safety returns") in thanks
    assert Edge("talk.thanks", "talk._return", "button", "[Done]") in thanks
    outside = {n.id: n.kind for n in talk.outside}
    assert outside["menu.welcome"] == "handoff" and outside["talk._return"] == "return"


def test_safety_exits_and_commands_are_drawn_once_per_flow(maps: dict[str, FlowMap]) -> None:
    for flow_map in maps.values():
        safety = [e for e in flow_map.edges if e.kind == "safety"]
        assert {e.source for e in safety} == {f"{flow_map.flow}._safety"}
        assert sorted(e.target for e in safety) == sorted(f"safety.{s}" for s in SAFETY)
    commands = _edges(maps["talk"], "talk._commands")
    assert [(e.label, e.target) for e in commands] == [("/start, /menu", "menu.welcome"),
                                                       ("/restart", "talk.intro")]


def test_buttons_to_the_same_place_share_an_edge(tmp_path: Path) -> None:
    (tmp_path / "menu.yaml").write_text(
        "id: menu\ntitle: Menu\nstart: a\nstates:\n  a:\n    say: Hi\n    choices:\n"
        "      - {label: One, to: b}\n      - {label: Two, to: b}\n"
        "  b:\n    say: Bye\n    choices: [{label: Again, to: a}]\n", encoding="utf-8")
    flows = [f for f, _ in parse_all([tmp_path / "menu.yaml"], [])]
    [menu] = build_maps(flows)
    assert _edges(menu, "menu.a") == [Edge("menu.a", "menu.b", "button", "[One]\n[Two]")]


def test_conditions_read_short() -> None:
    assert short_condition(()) == ""
    assert short_condition((Call("can_return"), Call("paired", None, True))) == (
        "if can_return and not paired")
    long = short_condition((Call("slot_mentions", {"feeling": ["scared", "afraid", "fright",
                                                                "terrified", "panic"]}),))
    assert long.startswith("if slot_mentions feeling=scared/afraid") and long.endswith("…")
    assert len(long) <= 48
