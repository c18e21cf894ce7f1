"""`coach bench`: messages per second and latency through the whole core (bot/bench.py).

`--store` names a store as for every command, but the bench never writes into one in use:
the default is memory (not $COACH_STORE), and an SQLite file must be new; it is removed
afterwards. The Telegram bench needs test code, so it lives in tools/ in a checkout.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from bot.bench import BenchResult, run_bench
from bot.cli.common import EXIT_USAGE, Subparsers, command, count, positive

TELEGRAM_BENCH = ("coach: the Telegram bench runs from a checkout (its fake Bot API server is "
                  "test code): .venv/bin/python tools/telegram_bench.py --help")


def add_parser(subparsers: Subparsers) -> None:
    parser = command(subparsers, "bench", run, "measure messages per second and latency",
                     "Measure messages per second and latency through the whole core, with "
                     "simulated people walking the flows: a saturated run, then a paced one, "
                     "beside a bare state machine and bare durable SQLite commits.",
                     store=False)
    parser.add_argument("--store", metavar="URL", default=argparse.SUPPRESS,
                        help="memory (the default; $COACH_STORE is not used), or "
                             "sqlite:///path.db or a path: a new file, removed afterwards")
    parser.add_argument("--users", type=count(1), default=200, metavar="N",
                        help="simulated people (default 200)")
    parser.add_argument("--messages", type=count(1), default=20000, metavar="N",
                        help="messages in all (default 20000)")
    parser.add_argument("--rate", type=positive, default=None, metavar="N",
                        help="messages per second offered in the paced run (default: half "
                             "the saturated throughput)")
    parser.add_argument("--preload", type=count(0), default=0, metavar="N",
                        help="store this many idle sessions first (SQLite only)")
    parser.add_argument("--checkins", type=count(0), default=0, metavar="N",
                        help="first schedule a weekly check-in for N people, and ask for due "
                             "check-ins every second while measuring")
    parser.add_argument("--json", action="store_true", help="the figures as one JSON object")
    parser.add_argument("--telegram", action="store_true",
                        help="moved: run tools/telegram_bench.py from a checkout")


def run(args: argparse.Namespace) -> int:
    if args.telegram:  # the bench needs test code, which an installed coach does not have
        print(TELEGRAM_BENCH, file=sys.stderr)
        return EXIT_USAGE
    result = run_bench(store=args.store or "memory", users=args.users,
                       messages=args.messages, flows=args.flows, preload=args.preload,
                       rate=args.rate, checkins=args.checkins)
    print(json.dumps({**asdict(result), **result.ratios}) if args.json else report(result))
    return 0


def report(result: BenchResult) -> str:
    """The figures for a person, one run a line."""
    ratios = result.ratios
    lines = [
        f"store={result.store} users={result.users} messages={result.messages} "
        f"in {result.seconds:.2f} s",
        f"  saturated: {result.messages_per_s:,.0f} messages/s  "
        f"p50 {result.saturated_p50_ms:.2f} ms  p99 {result.saturated_p99_ms:.2f} ms "
        f"(mostly queueing)  peak RSS {result.peak_rss_mb:.0f} MB",
        f"  paced:     {result.offered_rate:,.0f} messages/s offered  "
        f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms",
        f"  floors:    bare transitions {result.bare_transitions_per_s:,.0f} triggers/s; "
        f"durable SQLite commits {result.durable_commit_per_s:,.0f}/s",
        f"  ratios:    core/bare transitions {ratios['core_vs_bare_transitions']:.3f}; "
        f"core/durable commits {ratios['core_vs_durable_commit']:.2f}",
    ]
    if result.checkins_scheduled:
        lines.append(f"  check-ins: {result.checkins_scheduled:,} people scheduled; "
                     f"{result.checkin_passes} passes asking for due ones")
    if result.store == "sqlite":
        lines.append(f"  sessions:  {result.stored_sessions:,} stored; "
                     f"RSS {result.rss_before_preload_mb:.0f} MB before preload, "
                     f"{result.rss_after_preload_mb:.0f} MB after")
    return "\n".join(lines)
