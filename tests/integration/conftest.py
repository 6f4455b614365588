"""Fixtures for integration tests against a real, throwaway Synapse.

* ``homeserver`` (session): one :class:`LocalHomeserver` in a temporary folder, started once for
  the whole run and stopped at the end. Tests may stop and start it again (outage drills); it
  keeps its data and port.
* ``make_user`` (function): registers a fresh user (unique localpart) and returns its
  :class:`RegisteredUser`, for example the account the bot under test logs in with.
* ``make_person`` (function, alias ``people``): registers a fresh user and returns a syncing
  :class:`Person`; every person is closed at the end of the test.

Every test under ``tests/integration`` is marked ``integration``, so ``pytest -m "not
integration"`` runs the unit tests alone. Without Synapse installed the integration tests are
skipped, except under CI (``CI`` set), where that is an error.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from concerto_bot import BotProcess
from encrypted_people import EncryptedPerson, MakeEncrypted
from matrix_people import MakePerson, MakeUser, Person, joined

from bot.tools.local_homeserver import (
    INSTALL_HINT,
    LocalHomeserver,
    RegisteredUser,
    synapse_installed,
)

_HERE = Path(__file__).parent.resolve()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``integration`` (the hook sees the whole session)."""
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHomeserver]:
    """A throwaway Synapse for the whole test session."""
    if not synapse_installed():
        message = f"Synapse is needed for integration tests; {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = LocalHomeserver(tmp_path_factory.mktemp("homeserver"))
    started = time.monotonic()
    server.start()
    print(f"\nhomeserver {server.url} ready in {time.monotonic() - started:.2f} s")
    try:
        yield server
    finally:
        server.stop()


def _fresh_localpart(name: str) -> str:
    return f"{name.lower()}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_user(homeserver: LocalHomeserver) -> MakeUser:
    """``await make_user("bot", admin=False)`` registers a fresh user with a unique localpart."""

    async def make(name: str = "user", *, admin: bool = False) -> RegisteredUser:
        localpart = _fresh_localpart(name)
        password = uuid.uuid4().hex
        return await asyncio.to_thread(homeserver.register, localpart, password, admin=admin)

    return make


@pytest.fixture
async def make_person(
    homeserver: LocalHomeserver, make_user: MakeUser
) -> AsyncIterator[MakePerson]:
    """``await make_person("alice")`` registers a fresh user and returns a syncing Person."""
    created: list[Person] = []

    async def make(name: str = "person", *, admin: bool = False) -> Person:
        user = await make_user(name, admin=admin)
        person = await Person.start(homeserver.url, user)
        created.append(person)
        return person

    yield make
    for person in reversed(created):
        await person.close()


@pytest.fixture
def people(make_person: MakePerson) -> MakePerson:
    """Alias of ``make_person``."""
    return make_person


@pytest.fixture
async def make_bot(
    homeserver: LocalHomeserver, make_user: MakeUser, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[BotProcess]]]:
    """``await make_bot()`` registers a bot account and starts the real bot process on it."""
    bots: list[BotProcess] = []

    async def make(**options: Any) -> BotProcess:
        account = await make_user("concerto")
        directory = tmp_path / f"bot{len(bots)}"
        directory.mkdir()
        bot = BotProcess(homeserver, account, directory, **options)
        bot.start()
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        if bot.is_running():
            await bot.stop(signal.SIGKILL)


@pytest.fixture
async def bot_room(
    make_bot: Callable[..., Awaitable[BotProcess]], make_person: MakePerson
) -> tuple[BotProcess, Person, str]:
    """A running bot, an organiser (the room's creator) and their room with the bot in it."""
    bot = await make_bot()
    organiser = await make_person("organiser")
    room_id = await organiser.create_room("Groupe de travail", invite=[bot.user_id])
    await organiser.wait_for(room_id, joined(bot.user_id), timeout=30)
    return bot, organiser, room_id


@pytest.fixture
async def make_encrypted_person(
    homeserver: LocalHomeserver, make_user: MakeUser, tmp_path: Path
) -> AsyncIterator[MakeEncrypted]:
    """People whose client encrypts and decrypts, like a real Matrix app."""
    created: list[EncryptedPerson] = []

    async def make(name: str) -> EncryptedPerson:
        user = await make_user(name)
        person = await EncryptedPerson.start_encrypted(
            homeserver.url, user, tmp_path / f"store-{name}-{len(created)}"
        )
        created.append(person)
        return person

    yield make
    for person in reversed(created):
        await person.close()
