"""The unit test kit's fixtures, in layers a test can override in its own module (a fixture
of the same name) or by parametrising (``@pytest.mark.parametrize("language", ["en"])``):

- ``database``: freshly migrated, on SQLite and on PostgreSQL when configured;
- ``clock``: a frozen clock; ``language`` and ``config``: the shipped ``config.example.toml``;
- ``sender``: the recording stand-in for the homeserver; ``levels``: power levels by user;
- ``extra_features``: features a test plugs in besides the bot's own;
- ``bot``: the bot built from all of these by the application's builder (``harness.Harness``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from harness import Harness, RecordingSender, shipped_config
from sqlalchemy import text

from bot.runtime.builder import FeatureFactory
from bot.runtime.clock import FrozenClock
from bot.runtime.config import Config
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


@pytest.fixture
def language() -> str:
    """The bot's default language, so every room's until it changes it."""
    return "fr"


@pytest.fixture
def config(language: str, tmp_path: Path) -> Config:
    """The shipped configuration, its files kept in the test's own folder."""
    return shipped_config(language, data_dir=tmp_path / "data")


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def levels() -> dict[str, float]:
    """Power levels by user ID (0 for anyone not named); a test may change them as it runs."""
    return {}


@pytest.fixture
def extra_features() -> Sequence[FeatureFactory]:
    return ()


@pytest.fixture
def bot(
    database: Database,
    clock: FrozenClock,
    config: Config,
    sender: RecordingSender,
    levels: dict[str, float],
    extra_features: Sequence[FeatureFactory],
) -> Harness:
    """The bot as the application builds it, on the fixtures above."""
    return Harness(
        database, clock, config, sender=sender, levels=levels, extra_features=extra_features
    )
