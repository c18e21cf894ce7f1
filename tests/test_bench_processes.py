"""`coach bench --store postgresql://... --processes`: the core in several processes on one
database of the bench's own, beside the commit floor (bot/bench_processes.py), on a real
server. The figures themselves are read by people (docs/postgres.md); here, that the bench
runs, counts every message once, and leaves nothing behind."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import asyncpg

from bot.bench_processes import postgres_report, run_postgres_bench
from tests.conftest import REPO


async def databases(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        return {row["datname"] for row in await conn.fetch("SELECT datname FROM pg_database")}
    finally:
        await conn.close()


def test_each_process_count_runs_every_message_and_the_database_is_dropped(
        pg_cluster) -> None:
    before = asyncio.run(databases(pg_cluster.url))
    bench = run_postgres_bench(pg_cluster.url, [1, 2], users=8, messages=120)
    assert [run.processes for run in bench.runs] == [1, 2]
    assert [run.messages for run in bench.runs] == [120, 120]
    assert all(run.messages_per_s > 0 and run.p99_ms >= run.p50_ms > 0 for run in bench.runs)
    assert bench.commit_floor_per_s > 0
    ratios = bench.ratios()
    assert ratios["processes_1_vs_first"] == 1.0
    assert set(ratios) == {"processes_1_vs_first", "processes_2_vs_first",
                           "processes_1_vs_commit_floor", "processes_2_vs_commit_floor"}
    report = postgres_report(bench)
    assert "1 process: " in report and "2 processes: " in report and "floor:" in report
    assert asyncio.run(databases(pg_cluster.url)) == before  # its own database, dropped


def test_the_command_gives_json_and_refuses_processes_without_postgres(pg_cluster) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "bench", "--store", pg_cluster.url, "--processes", "1",
         "--users", "4", "--messages", "40", "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["runs"][0]["messages"] == 40 and figures["processes_1_vs_first"] == 1.0

    refused = subprocess.run([sys.executable, "-m", "bot", "bench", "--processes", "2"],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert refused.stderr.strip() == ("coach: --processes needs a postgresql:// store (memory "
                                      "and SQLite serve one process)")
    bad = subprocess.run([sys.executable, "-m", "bot", "bench", "--processes", "two"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "'two' is not a list of whole numbers" in bad.stderr
