"""`coach flows graph`: the map of the conversation, drawn from the flow model, for the
counsellors who edit the flows. `--watch` redraws it whenever a YAML file in the flows folder
changes, so an edit shows on the map at once.

Where it goes: stdout (one diagram), a `.md` file (a page with each flow's Mermaid diagram,
as docs/flow-map.md), a folder (a file per flow) or any other file (one diagram).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.cli.common import EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE, CommandError, Subparsers
from bot.cli.common import command as make_command
from bot.flowlang.errors import FlowProblem, did_you_mean
from bot.flowlang.graph import FlowMap, Jump, build_maps
from bot.flowlang.model import FlowSpec, home_flow

FORMATS = ("mermaid", "dot", "svg")
SUFFIXES = {"mermaid": ".mmd", "dot": ".dot", "svg": ".svg"}
POLL_SECONDS = 0.25
NO_DOT = ("the svg format needs Graphviz's `dot` on PATH: install Graphviz (apt-get install "
          "graphviz, brew install graphviz or winget install graphviz), or use --format dot "
          "or --format mermaid")


def add_parser(inner: Subparsers) -> None:
    graph = make_command(
        inner, "graph", run, "draw the flows as a map (Mermaid, DOT or SVG)",
        "Draw the flows as a map: states, buttons, typed text, conditions, hand-offs to other "
        "flows, the safety exits and the commands that jump; dead ends and unreachable states "
        "stand out. Node ids are the ones `coach flows check` names ([map: talk.opener]).")
    graph.add_argument("flow_ids", nargs="*", metavar="FLOW",
                       help="flow ids to draw (default: every flow in the folder)")
    graph.add_argument("--format", choices=FORMATS, default="mermaid",
                       help="mermaid (default), dot, or svg (needs Graphviz's dot)")
    graph.add_argument("--out", type=Path, metavar="FILE|DIR",
                       help="where to write: a .md file (a page with each flow's Mermaid "
                            "diagram), a folder (a file per flow), another file (one "
                            "diagram); default stdout")
    graph.add_argument("--watch", action="store_true",
                       help="redraw whenever a YAML file under the flows folder changes "
                            "(needs --out; Ctrl-C stops)")


@dataclass(frozen=True)
class Request:
    folder: Path
    flow_ids: tuple[str, ...]
    format: str
    out: Path | None


def run(args: argparse.Namespace) -> int:
    folder = args.flows or _flows_dir()
    request = Request(folder, tuple(args.flow_ids), args.format, args.out)
    if args.out is not None and args.out.suffix == ".md" and args.format != "mermaid":
        raise CommandError("a .md page holds Mermaid diagrams: use --format mermaid, or "
                           "another file name", EXIT_USAGE)
    if args.format == "svg" and shutil.which("dot") is None:
        raise CommandError(NO_DOT, EXIT_UNAVAILABLE)
    if args.watch:
        if args.out is None:
            raise CommandError("--watch needs --out FILE|DIR: it redraws the map there",
                               EXIT_USAGE)
        return watch(request)
    problems, maps = load_maps(request)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(problems)} problem(s) found; no map was drawn.", file=sys.stderr)
        return EXIT_USAGE
    written = write(request, maps)
    if written:
        print(written, file=sys.stderr)
    return 0


def load_maps(request: Request) -> tuple[list[FlowProblem], list[FlowMap]]:
    """The maps of the flows asked for; problems instead when a flow file cannot be read as
    a flow (a map of half the flows would mislead)."""
    from bot.flowlang.catalog import flow_files, parse_all

    files = flow_files([request.folder]) if request.folder.is_dir() else []
    if not files:
        return [FlowProblem(str(request.folder), 1, 0, "no flow files (*.yaml) found")], []
    problems: list[FlowProblem] = []
    flows = [flow for flow, _ in parse_all(files, problems)]
    if len(flows) < len(files):
        return sorted(problems), []
    known = {flow.id for flow in flows}
    for flow_id in request.flow_ids:
        if flow_id not in known:
            raise CommandError(f"there is no flow '{flow_id}' in {request.folder}"
                               f"{did_you_mean(flow_id, known)}", EXIT_USAGE)
    only = list(dict.fromkeys(request.flow_ids)) or None
    return [], build_maps(flows, jumps(flows), _core_entries(), only)


def jumps(flows: list[FlowSpec]) -> list[Jump]:
    """What leaves any step without a flow saying so: the safety screen (into the states the
    core enters) and the commands that move the person (bot/commands.py)."""
    from bot.pairing.commands import PAIR_FLOW

    found = [Jump("safety", f"flagged: {state}", flow, state)
             for flow, states in _core_entries().items() for state in states]
    home = home_flow(flow.id for flow in flows)
    found += [Jump("command", "/start, /menu", home), Jump("command", "/restart"),
              Jump("command", "/invite, /together, /pair", PAIR_FLOW),
              Jump("command", "/unpair", PAIR_FLOW, "unpair")]
    pair = next((flow for flow in flows if flow.id == PAIR_FLOW), None)
    return [j for j in found if j.state is None or j.flow != PAIR_FLOW or (
        pair is not None and j.state in pair.states)]


def _core_entries() -> dict[str, tuple[str, ...]]:
    from bot.app import features

    return dict(features().entry_states)


def write(request: Request, maps: list[FlowMap]) -> str:
    """Draws the maps where asked; what was written, in a few words ('' for stdout)."""
    from bot.flowlang import graph_render

    out = request.out
    if out is None:
        _stdout(render(request.format, maps))
        return ""
    if out.is_dir() or str(out).endswith(("/", "\\")):
        out.mkdir(parents=True, exist_ok=True)
        for flow_map in maps:
            path = out / (flow_map.flow + SUFFIXES[request.format])
            _write_if_changed(path, render(request.format, [flow_map]))
        return f"wrote {len(maps)} file(s) to {out}"
    if out.suffix == ".md":
        page = graph_render.markdown(maps, f"coach flows graph --out {out.as_posix()}")
        _write_if_changed(out, page.encode())
    else:
        _write_if_changed(out, render(request.format, maps))
    return f"wrote {out}"


def render(fmt: str, maps: list[FlowMap]) -> bytes:
    from bot.flowlang import graph_render

    if fmt == "mermaid":
        return graph_render.mermaid(maps).encode()
    text = graph_render.dot(maps)
    return text.encode() if fmt == "dot" else svg(text)


def svg(dot_text: str) -> bytes:
    """The DOT drawn by Graphviz's `dot` binary."""
    binary = shutil.which("dot")
    if binary is None:
        raise CommandError(NO_DOT, EXIT_UNAVAILABLE)
    done = subprocess.run([binary, "-Tsvg"], input=dot_text.encode(), capture_output=True,
                          check=False, timeout=300)
    if done.returncode != 0:
        first = (done.stderr.decode(errors="replace").strip().splitlines() or ["no reason"])[0]
        raise CommandError(f"Graphviz's dot could not draw the map: {first}", EXIT_FAILED)
    return done.stdout


def _write_if_changed(path: Path, data: bytes) -> None:
    """An unchanged map is not rewritten, so an editor or a browser showing it stays put."""
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _stdout(data: bytes) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


# -- watch ------------------------------------------------------------------------------


def watch(request: Request, *, poll: Callable[[], None] | None = None) -> int:
    """Redraw on every change to a YAML file under the folder (its mtimes, polled), one line
    each; broken YAML prints the problems instead and the watch goes on. Ctrl-C stops."""
    wait = poll or (lambda: time.sleep(POLL_SECONDS))
    seen: object = None
    try:
        while True:
            now = snapshot(request.folder)
            if now != seen:
                seen = now
                print(redraw(request), flush=True)
            wait()
    except KeyboardInterrupt:
        return 0


def snapshot(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Every YAML file under the folder with its mtime and size: any edit changes it."""
    found = []
    for path in sorted(folder.rglob("*.yaml")):
        try:
            stat = path.stat()
        except OSError:  # removed while we looked: the next look sees it gone
            continue
        found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def redraw(request: Request) -> str:
    """Draw once; the line (or lines, for problems) to print."""
    stamp = time.strftime("%H:%M:%S")
    try:
        problems, maps = load_maps(request)
        if not problems:
            write(request, maps)
    except CommandError as error:
        return f"{stamp} not redrawn: {error}"
    if problems:
        listed = "\n".join(str(p) for p in problems)
        return (f"{listed}\n{stamp} not redrawn: {len(problems)} problem(s) (as `coach flows "
                "check` reports them); waiting for the next change")
    states = sum(len(m.nodes) for m in maps)
    dead = sum(len(m.dead_ends) for m in maps)
    lost = sum(len(m.unreachable) for m in maps)
    return (f"{stamp} redrawn {request.out}: {len(maps)} flow(s), {states} states, "
            f"{dead} dead end(s), {lost} unreachable")


def _flows_dir() -> Path:
    from bot.paths import flows_dir

    return flows_dir()
