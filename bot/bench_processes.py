"""`coach bench --store postgresql://... --processes 1,2,4`: the core in several processes on
one PostgreSQL database, beside a bare durable commit on the same server.

Why processes: one coach process is bound by one core of Python; the PostgreSQL store is
there so that several can serve the same people. Each process runs the bench's simulated
people (bot/bench.py: each waits for its reply before the next message) on its own share of
them, all starting together; messages per second is every message over the time from the
first start to the last finish. The floor is one connection committing one small row at a
time with synchronous_commit on: what a store that committed alone, message after message,
could do; many people's commits in flight at once share the server's WAL flushes (group
commit), which is how the core gets above it.

The bench never writes into a store in use: it makes a database of its own on the server
(`coach_bench_<random>`, so the URL's user needs CREATEDB) and drops it at the end.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.bench import percentile, shares
from bot.crypto import Cipher, new_key

FLOOR_COMMITS = 1000
START_TIMEOUT_S = 120.0


@dataclass
class ProcessesResult:
    processes: int
    messages: int
    seconds: float
    messages_per_s: float
    p50_ms: float
    p99_ms: float


@dataclass
class PostgresBench:
    users: int
    runs: list[ProcessesResult]
    commit_floor_per_s: float

    def ratios(self) -> dict[str, float]:
        """Each run's throughput over one process's, and over the commit floor."""
        one = self.runs[0].messages_per_s
        found: dict[str, float] = {}
        for run in self.runs:
            found[f"processes_{run.processes}_vs_first"] = run.messages_per_s / one
            found[f"processes_{run.processes}_vs_commit_floor"] = (
                run.messages_per_s / self.commit_floor_per_s)
        return found


def _database_url(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def commit_floor(url: str, count: int = FLOOR_COMMITS) -> float:
    """One connection, one durable commit of one small row after another."""
    conn = await asyncpg.connect(url, server_settings={"synchronous_commit": "on"})
    try:
        await conn.execute("CREATE TABLE floor (k TEXT PRIMARY KEY, v BYTEA)")
        payload = b"x" * 400
        started = time.perf_counter()
        for n in range(count):
            await conn.execute("INSERT INTO floor VALUES ($1, $2) ON CONFLICT (k) DO UPDATE "
                               "SET v = EXCLUDED.v", f"k{n % 500}", payload)
        return count / (time.perf_counter() - started)
    finally:
        await conn.close()


def _worker(url: str, key: bytes, prefix: str, users: int, messages: int,
            flows: str | None, ready: Any, go: Any, results: Any) -> None:
    """One process: its share of the people, from the moment every process is ready."""
    from bot.app import load_flows
    from bot.bench import drive
    from bot.pipeline import Coach
    from bot.store.postgres import PostgresStore

    catalog = load_flows(Path(flows) if flows else None)
    store = PostgresStore(url, Cipher([key], "the bench's key"))

    async def run() -> tuple[float, float, list[float]]:
        coach = Coach(catalog, store)
        try:
            await drive(coach, min(users, 10), min(messages, 100), seed=99,
                        prefix=f"{prefix}-warm-")
            ready.put(True)
            await asyncio.get_running_loop().run_in_executor(None, go.wait)
            started = time.perf_counter()
            latencies = await drive(coach, users, messages, seed=1, prefix=f"{prefix}-")
            return started, time.perf_counter(), latencies
        finally:
            await store.close()

    results.put(asyncio.run(run()))


def _one_run(url: str, key: bytes, count: int, users: int, messages: int,
             flows: Path | None) -> ProcessesResult:
    context = multiprocessing.get_context("spawn")  # no copy of this process's loop or pool
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    people = shares(users, count)
    loads = shares(messages, count)
    workers = [context.Process(target=_worker, args=(
        url, key, f"p{count}w{n}", people[n], loads[n], str(flows) if flows else None,
        ready, go, results), daemon=True) for n in range(min(len(people), len(loads)))]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            ready.get(timeout=START_TIMEOUT_S)
        go.set()
        found = [results.get() for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.terminate()
    started = min(first for first, _, _ in found)
    ended = max(last for _, last, _ in found)
    latencies = sorted(value for _, _, values in found for value in values)
    return ProcessesResult(
        processes=len(workers), messages=len(latencies), seconds=ended - started,
        messages_per_s=len(latencies) / (ended - started),
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000)


def run_postgres_bench(url: str, processes: list[int], *, users: int, messages: int,
                       flows: Path | None = None) -> PostgresBench:
    """Each process count in turn on a database made for the bench, then the floor."""
    name = f"coach_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(url, f'CREATE DATABASE "{name}"'))
    scratch = _database_url(url, name)
    try:
        key = new_key()
        runs = [_one_run(scratch, key, count, users, messages, flows) for count in processes]
        floor = asyncio.run(commit_floor(scratch))
    finally:
        asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return PostgresBench(users=users, runs=runs, commit_floor_per_s=floor)


def postgres_report(bench: PostgresBench) -> str:
    ratios = bench.ratios()
    lines = [f"PostgreSQL, {bench.users} people in all, shared among the processes"]
    for run in bench.runs:
        lines.append(
            f"  {run.processes} process{'es' if run.processes > 1 else ''}: "
            f"{run.messages_per_s:,.0f} messages/s  p50 {run.p50_ms:.2f} ms  "
            f"p99 {run.p99_ms:.2f} ms  ({run.messages} messages in {run.seconds:.2f} s; "
            f"{ratios[f'processes_{run.processes}_vs_first']:.2f}x the first, "
            f"{ratios[f'processes_{run.processes}_vs_commit_floor']:.2f}x the floor)")
    lines.append(f"  floor: one connection's durable commits {bench.commit_floor_per_s:,.0f}/s")
    return "\n".join(lines)
