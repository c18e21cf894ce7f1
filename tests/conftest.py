"""Shared fixtures: the real core on the test flows, with memory and SQLite stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.app import load_catalog
from bot.flowlang.catalog import Catalog
from bot.messages import Incoming, Reply, UserKey
from bot.pipeline import Coach
from bot.store.memory import MemoryStore
from bot.store.sqlite import SQLiteStore

FIXTURES = Path(__file__).parent / "fixtures"
CORE_FLOWS = FIXTURES / "core_flows"
REPO = Path(__file__).resolve().parent.parent


class Chat:
    """Drives the real core as one person would, remembering the last reply's buttons."""

    def __init__(self, coach: Coach, user: str = "alice", platform: str = "test") -> None:
        self.coach = coach
        self.user = UserKey(platform, user)
        self.last: Reply | None = None

    async def send(self, text: str, **extra: object) -> Reply:
        self.last = await self.coach.handle(Incoming(self.user, text=text, **extra))
        return self.last

    async def press(self, label: str, **extra: object) -> Reply:
        assert self.last is not None, "no reply yet"
        ids = [c.id for c in self.last.choices if c.label == label]
        assert ids, f"no button {label!r} in {[c.label for c in self.last.choices]}"
        self.last = await self.coach.handle(Incoming(self.user, button=ids[0], **extra))
        return self.last

    async def button(self, button_id: str) -> Reply:
        self.last = await self.coach.handle(Incoming(self.user, button=button_id))
        return self.last

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.last.choices] if self.last else []


async def practising(coach: Coach, style: str = "Defensive") -> Chat:
    """A new adult who was hurt, practising with the partner in `style`, opener not yet typed."""
    chat = Chat(coach)
    await chat.send("/start")
    await chat.press("Yes, I'm 18 or older")
    await chat.send("/start roleplay")
    await chat.press("I was hurt")
    await chat.press("Yes, I feel safe")
    await chat.press(style)
    return chat


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog([CORE_FLOWS])


@pytest.fixture
def coach(catalog: Catalog) -> Coach:
    return Coach(catalog, MemoryStore())


@pytest.fixture
async def sqlite_coach(catalog: Catalog, tmp_path: Path):
    store = SQLiteStore(tmp_path / "coach.db")
    yield Coach(catalog, store)
    await store.close()


@pytest.fixture
def chat(coach: Coach) -> Chat:
    return Chat(coach)


@pytest.fixture(scope="module")
def safety_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The shipped flows (safety, help lines, ...) with the test menu and quiz."""
    flows = tmp_path_factory.mktemp("flows")
    shutil.copytree(REPO / "flows", flows, dirs_exist_ok=True)
    shutil.copytree(CORE_FLOWS, flows, dirs_exist_ok=True)
    return load_catalog([flows])


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture(scope="session")
def pg_cluster():
    """A PostgreSQL server for the whole run (tests/pg_server.py), or a skip with the reason."""
    from tests.pg_server import NoServer, start_cluster

    try:
        cluster = start_cluster()
    except NoServer as reason:
        pytest.skip(str(reason))
    yield cluster
    cluster.remove()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """A fresh, empty database on the test server, for one test."""
    from tests.pg_server import new_database

    return new_database(pg_cluster.url)


@pytest.fixture
def own_cluster(pg_cluster):
    """The test server, for tests that stop or restart it: skipped when it is someone else's."""
    if not pg_cluster.ours:
        pytest.skip("the server in $COACH_TEST_POSTGRES_URL is not ours to restart")
    return pg_cluster


@pytest.fixture
async def two(pg_url: str):
    """Two PostgreSQL stores on one database: two processes."""
    from tests.test_postgres import make_store

    first, second = make_store(pg_url), make_store(pg_url)
    yield first, second
    await first.close()
    await second.close()
