"""Messages per second and latency through the whole core, beside two floors (`coach bench`).

Simulated people walk the shipped flows at random (typing when asked, pressing buttons
otherwise), each waiting for its reply before the next message, as a real person does.

Two runs: a saturated one (everyone sends the instant a reply arrives) gives messages per
second; its latency is mostly queueing (200 people at 6,000/s wait about 30 ms each). A paced
one offers a steady rate below that (half of it unless `--rate` says otherwise) and gives the
latency a person sees when the bot is busy but not overloaded. The same run measures a bare
`transitions` machine with no store and bare durable SQLite commits on the same disk, so the
figures can be read as ratios on a noisy machine. `--checkins N` measures the same with N
people's check-ins scheduled and asked for while it runs (bot/bench_checkins.py).

The store is named as every command names one: `memory`, an SQLite URL or path, or a
PostgreSQL URL. The bench never writes into a store in use: an SQLite file must be new, and
is removed afterwards; a PostgreSQL database must hold no coach tables, and the tables the
bench made are dropped afterwards (its sessions are sealed with a key of its own).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import resource
import shutil
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from transitions import Machine

from bot.app import load_flows
from bot.bench_checkins import ask_for_checkins, schedule_checkins
from bot.crypto import Cipher, key_file_for, load_cipher, new_key
from bot.messages import Incoming, Reply, UserKey
from bot.pipeline import Coach
from bot.session import Session
from bot.store.base import Store, StoreOpenError
from bot.store.memory import MemoryStore
from bot.store.sqlite import SQLiteStore, person_keys_file
from bot.store.url import StoreURLError, check_postgres_url, is_postgres

MEMORY = ("memory", "memory://")
ANSWERS = (
    "I noticed you were messaging someone late at night and it made me uneasy.",
    "Friendly chats are fine, flirting is not.",
    "Honestly I am not sure yet.",
    "I would like us to talk about it calmly this weekend.",
)


@dataclass
class BenchResult:
    store: str
    users: int
    messages: int
    seconds: float
    messages_per_s: float
    p50_ms: float
    p99_ms: float
    offered_rate: float
    saturated_p50_ms: float
    saturated_p99_ms: float
    peak_rss_mb: float
    bare_transitions_per_s: float
    durable_commit_per_s: float
    stored_sessions: int
    rss_before_preload_mb: float
    rss_after_preload_mb: float
    checkins_scheduled: int = 0
    checkin_passes: int = 0

    @property
    def ratios(self) -> dict[str, float]:
        return {
            "core_vs_bare_transitions": self.messages_per_s / self.bare_transitions_per_s,
            "core_vs_durable_commit": self.messages_per_s / self.durable_commit_per_s,
        }


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _next_message(reply: Reply, rng: random.Random, user: UserKey) -> Incoming:
    if reply.expects_text and (not reply.choices or rng.random() < 0.7):
        return Incoming(user, text=rng.choice(ANSWERS))
    if reply.choices:
        return Incoming(user, button=rng.choice(reply.choices).id)
    return Incoming(user, text="/start")


def shares(messages: int, users: int) -> list[int]:
    """`messages` spread over `users` as evenly as whole messages allow; with fewer
    messages than people, only as many people take part as there are messages."""
    base, extra = divmod(messages, users)
    return [base + (n < extra) for n in range(users) if base + (n < extra)]


async def drive(coach: Coach, users: int, messages: int, seed: int,
                prefix: str = "") -> list[float]:
    """Every message is timed, the first `/start` of each person too. `prefix` keeps the
    people of several runs (or processes) on one store apart."""
    latencies: list[float] = []

    async def person(n: int, count: int) -> None:
        rng = random.Random(seed + n)
        user = UserKey("bench", f"{prefix}{n}")
        message = Incoming(user, text="/start")
        for _ in range(count):
            started = time.perf_counter()
            reply = await coach.handle(message)
            latencies.append(time.perf_counter() - started)
            message = _next_message(reply, rng, user)

    await asyncio.gather(*(person(n, count) for n, count in enumerate(shares(messages, users))))
    return latencies


async def _drive_paced(coach: Coach, users: int, messages: int, rate: float,
                       seed: int) -> list[float]:
    """Message k is due at k / rate seconds, from person k % users; a person still waiting
    for a reply sends when it arrives. Latency is timed from the actual send."""
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05

    async def person(n: int) -> None:
        rng = random.Random(seed + n)
        user = UserKey("paced", str(n))
        message = Incoming(user, text="/start")
        for k in range(n, messages, users):
            delay = start + k / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            started = time.perf_counter()
            reply = await coach.handle(message)
            latencies.append(time.perf_counter() - started)
            message = _next_message(reply, rng, user)

    await asyncio.gather(*(person(n) for n in range(min(users, messages))))
    return latencies


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the (sorted, non-empty) values lie."""
    index = max(0, math.ceil(fraction * len(sorted_values)) - 1)
    return sorted_values[min(index, len(sorted_values) - 1)]


def bare_transitions_per_s(count: int = 50_000) -> float:
    """Floor: the same kind of trigger on one shared machine, with nothing else."""

    class Model:
        state: str

    model = Model()
    states = [f"s{n}" for n in range(10)]
    machine = Machine(model=model, states=states, initial="s0", auto_transitions=False,
                      send_event=True)
    for n, name in enumerate(states):
        machine.add_transition("go", name, states[(n + 1) % len(states)])
    event = machine.events["go"]
    started = time.perf_counter()
    for n in range(count):
        machine.set_state(states[n % len(states)], model=model)
        event.trigger(model)
    return count / (time.perf_counter() - started)


def durable_commit_per_s(directory: Path, count: int = 1500) -> float:
    """Floor: one durable SQLite commit per message (WAL, synchronous=FULL), same disk."""
    path = directory / "floor.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
        payload = "x" * 400
        started = time.perf_counter()
        for n in range(count):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (f"k{n % 500}", payload))
            conn.execute("COMMIT")
        return count / (time.perf_counter() - started)
    finally:
        conn.close()


def _preload(path: Path, count: int, cipher: Cipher) -> None:
    """Fill the store with `count` idle sessions, straight through SQL."""
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT OR REPLACE INTO sessions (user_key, version, updated_at, data) "
            "VALUES (?, 1, ?, ?)",
            ((f"stored:{n}", time.time(),
              cipher.encrypt(Session(f"stored:{n}", "menu", "welcome").to_json(), f"stored:{n}"))
             for n in range(count)))


async def _run(database: Path | str | None, users: int, messages: int, preload: int,
               workdir: Path, flows: Path | None, rate: float | None,
               checkins: int = 0) -> BenchResult:
    catalog = load_flows(flows)
    store: Store
    rss_before = _rss_mb()
    if isinstance(database, str):
        from bot.store.postgres import PostgresStore

        store = PostgresStore(database, Cipher([new_key()], "the bench's own key"))
    elif database is not None:
        cipher = load_cipher(database)
        store = SQLiteStore(database, cipher)  # encrypted at rest, as in production
        if preload:
            _preload(database, preload, cipher)
    else:
        store = MemoryStore()
    rss_after = _rss_mb()
    coach = Coach(catalog, store)
    stop, passes = asyncio.Event(), [0]
    asking: asyncio.Task[None] | None = None
    try:
        if checkins:
            await schedule_checkins(store, checkins)
            asking = asyncio.create_task(ask_for_checkins(coach, stop, passes))
        await drive(coach, min(users, 50), min(messages, 2000), seed=99)  # warm-up
        started = time.perf_counter()
        latencies = await drive(coach, users, messages, seed=1)
        seconds = time.perf_counter() - started
        throughput = len(latencies) / seconds
        offered = rate or round(throughput / 2, -1) or 1.0
        paced = await _drive_paced(coach, users, messages, offered, seed=7)
        stored = await store.count()
    finally:
        stop.set()
        if asking is not None:
            await asking
        await store.close()
    latencies.sort()
    paced.sort()
    return BenchResult(
        store=("memory" if database is None else
               "postgresql" if isinstance(database, str) else "sqlite"),
        users=min(users, messages),
        messages=len(latencies), seconds=seconds,
        messages_per_s=throughput,
        p50_ms=statistics.median(paced) * 1000,
        p99_ms=percentile(paced, 0.99) * 1000,
        offered_rate=offered,
        saturated_p50_ms=statistics.median(latencies) * 1000,
        saturated_p99_ms=percentile(latencies, 0.99) * 1000,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        bare_transitions_per_s=bare_transitions_per_s(),
        durable_commit_per_s=durable_commit_per_s(workdir),
        stored_sessions=stored, rss_before_preload_mb=rss_before, rss_after_preload_mb=rss_after,
        checkins_scheduled=checkins, checkin_passes=passes[0],
    )


def bench_database(store: str) -> Path | str | None:
    """Where the bench's sessions go for this store URL (None: in memory; a str: a
    PostgreSQL URL), spelled as every command spells a store (bot/store/url.py). An SQLite
    file must be new, in a folder that exists: the bench fills it, then removes it."""
    if store in MEMORY:
        return None
    if is_postgres(store):
        check_postgres_url(store)
        return store
    if store.startswith("sqlite://"):
        path = Path(store.removeprefix("sqlite://").removeprefix("/"))
        if not path.name:
            raise StoreURLError(f"{store} names no file: write sqlite:///path.db")
    elif "://" in store:
        raise StoreURLError(f"the bench measures memory, an SQLite file or PostgreSQL, not "
                            f"'{store.split('://', 1)[0]}': use memory, sqlite:///path.db, a "
                            "path or postgresql://user@host:port/db")
    else:
        path = Path(store)
    path = path.expanduser()
    if path.exists() or path.is_symlink():
        raise StoreOpenError(f"cannot use the store at {path} for the bench: the file exists; "
                             "name a new one (the bench fills it with sessions, then removes "
                             "it)")
    if not path.parent.is_dir():
        raise StoreOpenError(f"cannot open the store at {path}: no such folder {path.parent}")
    return path


def run_bench(*, store: str = "memory", users: int, messages: int, flows: Path | None = None,
              preload: int = 0, rate: float | None = None, checkins: int = 0) -> BenchResult:
    """Measure on `store` (a store URL: memory, or a new SQLite file). The floors are measured
    beside it: in the system's temporary directory for memory (the working directory may not
    be writable, as in the Docker image), in the database's folder for SQLite."""
    if users < 1 or messages < 1 or preload < 0 or checkins < 0 or (
            rate is not None and rate <= 0):
        raise ValueError("users and messages must be 1 or more, preload 0 or more, "
                         "rate above 0")
    database = bench_database(store)
    if isinstance(database, str):
        from bot.bench_postgres import empty_database

        with empty_database(database), tempfile.TemporaryDirectory(prefix="coach-bench-") as work:
            return asyncio.run(_run(database, users, messages, 0, Path(work), flows, rate,
                                    checkins))
    made_key = database is not None and not key_file_for(database).exists()
    workdir = Path(tempfile.mkdtemp(prefix="coach-bench-",
                                    dir=None if database is None else database.parent))
    try:
        return asyncio.run(_run(database, users, messages, preload, workdir, flows, rate,
                                checkins))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if database is not None:
            for file in (database, person_keys_file(database)):
                for suffix in ("", "-wal", "-shm", "-journal"):
                    file.with_name(file.name + suffix).unlink(missing_ok=True)
            if made_key:  # a key file that was there before is the operator's
                key_file_for(database).unlink(missing_ok=True)
