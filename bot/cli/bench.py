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

import asyncpg

from bot.bench import BenchResult, run_bench
from bot.bench_processes import postgres_report, run_postgres_bench
from bot.cli.common import (
    EXIT_STORE,
    EXIT_USAGE,
    CommandError,
    Subparsers,
    command,
    count,
    positive,
)
from bot.store.postgres import safe_url
from bot.store.url import is_postgres

TELEGRAM_BENCH = ("coach: the Telegram bench runs from a checkout (its fake Bot API server is "
                  "test code): .venv/bin/python tools/telegram_bench.py --help")


def add_parser(subparsers: Subparsers) -> None:
    parser = command(subparsers, "bench", run, "measure messages per second and latency",
                     "Measure messages per second and latency through the whole core, with "
                     "simulated people walking the flows: a saturated run, then a paced one, "
                     "beside a bare state machine and bare durable SQLite commits.",
                     store=False)
    parser.add_argument("--store", metavar="URL", default=argparse.SUPPRESS,
                        help="memory (the default; $COACH_STORE is not used), "
                             "sqlite:///path.db or a path (a new file, removed afterwards), "
                             "or postgresql://user@host:port/db (a database without the "
                             "coach's tables, those made dropped afterwards; with --processes, "
                             "a database the bench makes on that server and drops)")
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
    parser.add_argument("--processes", type=process_counts, default=None, metavar="N,N,...",
                        help="with a postgresql:// store: run the core in this many "
                             "processes at once, each count in turn (e.g. 1,2,4), on a "
                             "database the bench makes and drops, beside the server's commit "
                             "floor")
    parser.add_argument("--json", action="store_true", help="the figures as one JSON object")
    parser.add_argument("--telegram", action="store_true",
                        help="moved: run tools/telegram_bench.py from a checkout")


def run(args: argparse.Namespace) -> int:
    if args.telegram:  # the bench needs test code, which an installed coach does not have
        print(TELEGRAM_BENCH, file=sys.stderr)
        return EXIT_USAGE
    store = getattr(args, "store", None) or "memory"
    if is_postgres(store) and args.processes is not None:
        return _run_postgres(args, store)
    if args.processes is not None:
        print("coach: --processes needs a postgresql:// store (memory and SQLite serve one "
              "process)", file=sys.stderr)
        return EXIT_USAGE
    result = run_bench(store=store, users=args.users,
                       messages=args.messages, flows=args.flows, preload=args.preload,
                       rate=args.rate, checkins=args.checkins)
    print(json.dumps({**asdict(result), **result.ratios}) if args.json else report(result))
    return 0


def process_counts(text: str) -> list[int]:
    """argparse type: "1,2,4"."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of whole numbers, "
                                         "like 1,2,4") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"'{text}': give process counts of 1 or more")
    return counts


def _run_postgres(args: argparse.Namespace, store: str) -> int:
    try:
        bench = run_postgres_bench(store, args.processes, users=args.users,
                                   messages=args.messages, flows=args.flows)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise CommandError(f"the bench cannot use {safe_url(store)}: "
                           f"{str(error).splitlines()[0] if str(error) else type(error).__name__}",
                           EXIT_STORE) from None
    print(json.dumps({**asdict(bench), **bench.ratios()}) if args.json
          else postgres_report(bench))
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
