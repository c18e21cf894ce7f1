"""bot/flowlang/graph_render.py: the map as Mermaid and DOT text. Mermaid is checked for
what its parser needs (ids, balanced shapes and quotes, every edge's ends declared); DOT is
parsed by Graphviz's own `dot` when it is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.flowlang.catalog import flow_files, parse_all
from bot.flowlang.graph import FlowMap, Jump, build_maps
from bot.flowlang.graph_render import dot, markdown, mermaid

FIXTURE = Path(__file__).parent / "fixtures" / "flow_map"
SHIPPED = Path(__file__).parent.parent / "flows"
SAFETY = ("violence", "coercive_control", "self_harm", "unsure")
JUMPS = [*(Jump("safety", f"flagged: {s}", "safety", s) for s in SAFETY),
         Jump("command", "/start, /menu", "menu"), Jump("command", "/restart")]
MERMAID_ID = re.compile(r"[a-z][a-z0-9_]*\.[a-z_][a-z0-9_]*|[a-z][a-z0-9_]*_flow")
NODE = re.compile(r"^\s+(\S+?)(\[\"|\[/\"|\(\"|\(\(\"|\{\{\"|>\"|\[\[\")(.*)$")
EDGE = re.compile(r"^\s+(\S+) (-->|-\.->|==>)(?:\|\"([^\"]*)\"\|)? (\S+)$")


def _maps(folder: Path, *only: str) -> list[FlowMap]:
    flows = [flow for flow, _ in parse_all(flow_files([folder]), [])]
    return build_maps(flows, JUMPS, {"safety": SAFETY}, list(only) or None)


def _check_mermaid(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Every line is a comment, the header, a subgraph, a node, an edge or a style, each
    well formed; returns the nodes (id -> label) and edges."""
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    lines = text.splitlines()
    assert lines[0].startswith("%%") and "flowchart TD" in lines
    depth = 0
    for line in lines:
        if line.startswith("%%") or line == "flowchart TD":
            continue
        assert line.count('"') % 2 == 0, line
        stripped = line.strip()
        if stripped.startswith("subgraph "):
            depth += 1
            assert MERMAID_ID.fullmatch(stripped.split()[1].split("[")[0]), line
        elif stripped == "end":
            depth -= 1
        elif stripped.startswith(("classDef ", "class ", "linkStyle ")):
            continue
        elif edge := EDGE.match(line):
            edges.append((edge.group(1), edge.group(4), edge.group(3) or ""))
        elif node := NODE.match(line):
            node_id, opening, rest = node.groups()
            closing = {'["': '"]', '[/"': '"/]', '("': '")', '(("': '"))', '{{"': '"}}',
                       '>"': '"]', '[["': '"]]'}[opening]
            assert rest.endswith(closing), line
            assert MERMAID_ID.fullmatch(node_id), line
            assert node_id not in nodes, f"declared twice: {node_id}"
            nodes[node_id] = rest[:-len(closing)]
        else:
            raise AssertionError(f"not a Mermaid line this renderer writes: {line!r}")
        assert depth >= 0
    assert depth == 0
    for source, target, _ in edges:
        assert source in nodes and target in nodes, (source, target)
    return nodes, edges


def _classes(text: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.strip().startswith("class "):
            _, ids, name = line.split()
            found[name] = set(ids.split(","))
    return found


def test_mermaid_of_the_tiny_flows_shows_and_styles_what_matters(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    shutil.copytree(FIXTURE, folder)
    text = mermaid(_maps(folder, "talk"))
    nodes, edges = _check_mermaid(text)
    assert "DEAD END" in nodes["talk.stuck"] and "NEVER REACHED" in nodes["talk.lost"]
    classes = _classes(text)
    assert classes["deadend"] == {"talk.stuck"}
    assert classes["unreachable"] == {"talk.lost"}
    assert {"menu.welcome", "safety.check_in"} <= classes["handoff"]
    assert classes["safety"] == {"talk._safety"}
    assert "%% talk: dead ends: talk.stuck; unreachable: talk.lost" in text
    assert ("talk.intro", "talk.ask_name", "[Let's start]") in edges
    assert ("talk.ask_name", "talk.stuck", "typed answer or [Skip this one]<br/>"
            "if slot_is name=Sam") in edges
    assert ("talk.thanks", "safety.check_in", "[Help and #quot;safety#quot; options] · call"
            ) in edges
    assert re.search(r"talk\._safety ==>\|\"flagged: violence\"\| safety\.violence", text)
    assert re.search(r"linkStyle (\d+,){3}\d+ stroke:#c62828", text)


def test_a_state_of_another_flow_on_the_same_map_is_drawn_once(tmp_path: Path) -> None:
    text = mermaid(_maps(FIXTURE))
    nodes, _ = _check_mermaid(text)
    assert nodes["menu.welcome"] == "welcome"  # its own box, not a hand-off hexagon
    assert "handoff" not in _classes(text)


def test_the_shipped_flows_give_well_formed_mermaid_the_same_every_time() -> None:
    maps = _maps(SHIPPED)
    text = mermaid(maps)
    _check_mermaid(text)
    assert text == mermaid(_maps(SHIPPED))
    for flow_map in maps:
        _check_mermaid(mermaid([flow_map]))


def test_markdown_page_has_a_diagram_per_flow() -> None:
    maps = _maps(FIXTURE)
    page = markdown(maps, "coach flows graph --out map.md")
    assert page.count("```mermaid") == 3 and "## talk" in page
    assert "dead ends: talk.stuck; unreachable: talk.lost" in page
    assert "`coach flows graph --out map.md`" in page


def test_dot_marks_problems_and_quotes_its_strings() -> None:
    text = dot(_maps(FIXTURE))
    assert text.startswith("// generated by")
    assert re.search(r'"talk\.stuck" \[label="stuck\\nDEAD END", .*fillcolor="#ffcdd2"', text)
    assert re.search(r'"talk\.lost" \[label="lost\\nNEVER REACHED", .*style=dashed', text)
    assert '"talk.thanks" -> "safety.check_in" [label="[Help and \\"safety\\" options]' in text
    assert 'subgraph "cluster_talk"' in text


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz's dot is not installed (apt-get install graphviz)")
@pytest.mark.parametrize("folder", [FIXTURE, SHIPPED], ids=["tiny", "shipped"])
def test_graphviz_parses_and_lays_out_the_dot(folder: Path) -> None:
    done = subprocess.run(["dot", "-Tcanon"], input=dot(_maps(folder)), capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert '"talk.intro"' in done.stdout or "talk.intro" in done.stdout
