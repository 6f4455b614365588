"""Unit-test kit: a migrated database (SQLite, and PostgreSQL when configured), a frozen
clock, and a harness that drives the real router, intake and outbox with a recording sender."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.runtime.clock import FrozenClock
from storage.db import Database

POSTGRES_URL = os.environ.get("CONCERTO_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


def migrated_database(backend: str, tmp_path: Path) -> Iterator[Database]:
    if backend == "sqlite":
        database = Database.from_url(f"sqlite:///{tmp_path / 'test.db'}")
        database.migrate()
        yield database
        database.close()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database.from_url(POSTGRES_URL)
    with admin.engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    database = Database.from_url(POSTGRES_URL, schema=schema)
    try:
        database.migrate()
        yield database
    finally:
        database.close()
        with admin.engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.close()


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A freshly migrated database, on every configured backend."""
    yield from migrated_database(request.param, tmp_path)


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    yield from migrated_database("sqlite", tmp_path)


@pytest.fixture
def clock() -> FrozenClock:
    """Monday 15 June 2026, 10:00 in Paris."""
    return FrozenClock(datetime(2026, 6, 15, 8, 0, tzinfo=UTC))
