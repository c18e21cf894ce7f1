"""The PostgreSQL store's schema, created and upgraded by the coach itself.

`schema_version` holds one row: the number of MIGRATIONS applied. A database at an older
number is brought up to date in one transaction; one at a newer number was written by a
newer coach and is refused, since this one cannot know what the newer columns mean. Several
processes may start at once: an advisory lock lets one of them migrate while the others
wait, then find nothing left to do.
"""

from __future__ import annotations

from typing import Any

# Advisory lock keys (two int4s): the first says "Conversation Coach", the second what for.
LOCK_SPACE = 0x436F  # "Co"
PERSON_SPACE = 0x4350  # "CP": a person's lock, second key hashtext(user_key)
MIGRATE_LOCK = (LOCK_SPACE, 1)
PURGE_LOCK = (LOCK_SPACE, 2)

# Each entry takes the schema from version i to i + 1. Append only; never edit one shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sessions (
        user_key   TEXT PRIMARY KEY,
        version    BIGINT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        data       BYTEA NOT NULL
    );
    CREATE INDEX sessions_updated ON sessions (updated_at);
    """,
    # Per-person data keys, wrapped by the store key (crypto-shredding): a session row is
    # sealed with its person's key, and erasing the key here erases every copy of the row.
    """
    CREATE TABLE person_keys (
        user_key   TEXT PRIMARY KEY,
        wrapped    BYTEA NOT NULL,
        key_id     TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    """,
    # Check-ins: when a person's earliest check-in is due (NULL: none), beside the sealed
    # data so due ones are found by an index, and erased with the row by /delete.
    """
    ALTER TABLE sessions ADD COLUMN due_at DOUBLE PRECISION;
    CREATE INDEX sessions_due ON sessions (due_at) WHERE due_at IS NOT NULL;
    """,
)
CURRENT = len(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer coach."""

    def __init__(self, found: int) -> None:
        super().__init__(f"its schema is version {found}, newer than this coach knows "
                         f"({CURRENT}): upgrade the coach, or use another database")
        self.found = found


async def schema_version(conn: Any) -> int:
    """The version in the database; 0 for one the coach never touched."""
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))


async def migrate(conn: Any) -> tuple[int, int]:
    """Bring the schema up to CURRENT on an asyncpg connection; (before, after). Raises
    SchemaTooNew for a newer schema, having changed nothing."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *MIGRATE_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        before = await schema_version(conn)
        if before > CURRENT:
            raise SchemaTooNew(before)
        for step in MIGRATIONS[before:]:
            await conn.execute(step)
        if before < CURRENT:
            await conn.execute("DELETE FROM schema_version")
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", CURRENT)
    return before, CURRENT
