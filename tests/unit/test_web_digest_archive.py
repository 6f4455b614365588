"""`!résumé lien` and the digest archive: an index of weeks and each week's standalone page, for
a room its own digests and, for a shared digest room, those gathered into it — never another
room's; rebuilt from the database, so an erased author's text is gone at once."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from harness import ROOM, Harness, RecordingSender
from web_client import web_client, with_web

from bot.runtime.clock import FrozenClock
from bot.runtime.config import Config
from storage.web import WebLinkRepository

ORGANISER = "@org:test"
ALICE = "@alice:test"
OTHER = "!other:test"
SHARED = "!shared:test"
NOW = datetime(2026, 6, 19, 8, 0, tzinfo=UTC)  # Friday: digests of 2026-W25 come Monday
MONDAY_NOON = datetime(2026, 6, 22, 10, 0, tzinfo=UTC)
NAMES = {ROOM: "Groupe numérique", OTHER: "Groupe à part", SHARED: "Organisation"}
LINK = re.compile(r"https://concerto\.example\.org(/digest/[A-Za-z0-9_-]{32})(?![A-Za-z0-9_-])")


@dataclass
class NamedRooms(RecordingSender):
    async def room_name(self, room_id: str) -> str | None:
        return NAMES.get(room_id)

    async def resolve_alias(self, alias: str) -> str | None:
        return SHARED if alias == "#orga:test" else None


@pytest.fixture
def sender() -> NamedRooms:
    return NamedRooms()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 100}


@pytest.fixture
def config(config: Config) -> Config:
    return with_web(config)


@pytest.fixture
async def client(bot: Harness) -> AsyncIterator[TestClient]:
    async with web_client(bot) as c:
        yield c


async def say(bot: Harness, room_id: str, sender: str, body: str) -> list[dict[str, Any]]:
    return await bot.deliver(bot.message(sender, body), room_id=room_id)


async def link(bot: Harness, room_id: str) -> str:
    [answer] = await say(bot, room_id, ALICE, "!résumé lien")
    found = LINK.search(answer["content"]["body"])
    assert found, answer
    return found.group(1)


async def week_of_digests(bot: Harness, shared_room: str = SHARED) -> None:
    """Two groups gathered in the shared room, a third one apart; Monday's digests posted."""
    for room_id, text in (
        (ROOM, "Des bus le dimanche #mobilité"),
        (OTHER, "Un secret de groupe #privé"),
    ):
        await say(bot, room_id, ALICE, "!résumé")
        await say(bot, room_id, ALICE, f"!proposition {text}")
    await say(bot, ROOM, ORGANISER, f"!réglages salon-résumé {shared_room}")
    await say(bot, OTHER, ORGANISER, "!réglages salon-résumé off")
    bot.clock.set(MONDAY_NOON)
    await bot.timers.fire_due()
    await bot.outbox.send_due()


async def test_a_rooms_archive_has_its_weeks_and_pages(bot, client):
    await week_of_digests(bot)
    path = await link(bot, ROOM)
    index = await client.get(path)
    assert index.status == 200 and index.content_type == "text/html"
    html = await index.text()
    assert "Résumés — Groupe numérique" in html
    assert f'<a href="https://concerto.example.org{path}/2026-W25">Semaine 2026-W25</a>' in html
    page = await (await client.get(f"{path}/2026-W25")).text()
    assert "Résumé de la semaine 2026-W25" in page and "Des bus le dimanche" in page
    assert "<svg" in page and "<script" not in page and "secret" not in page
    assert (await client.get(f"{path}/2026-W24")).status == 404
    assert (await client.get(f"{path}/2026-W25.html")).status == 404


async def test_the_shared_room_shows_what_was_gathered_there_only(bot, client):
    await week_of_digests(bot)
    path = await link(bot, SHARED)
    html = await (await client.get(path)).text()
    assert "Semaine 2026-W25</a> — Groupe numérique" in html and "à part" not in html
    page = await (await client.get(f"{path}/2026-W25")).text()
    assert "Des bus le dimanche" in page and "secret" not in page


async def test_an_erased_authors_text_leaves_the_archive_at_once(bot, client):
    await week_of_digests(bot)
    path = await link(bot, ROOM)
    await say(bot, ROOM, ALICE, "!oublie-moi")
    await say(bot, ROOM, ALICE, "!oublie-moi")
    page = await (await client.get(f"{path}/2026-W25")).text()
    assert "Des bus le dimanche" not in page


async def test_a_shared_room_named_by_its_alias_keeps_its_archive_after_a_restart(bot):
    await week_of_digests(bot, shared_room="#orga:test")
    with bot.database.session() as session:
        token = WebLinkRepository(session).get_or_add(SHARED, "digest", bot.clock.now()).token
    restarted = bot.restart()  # nothing in memory: the alias is read back from the database
    async with web_client(restarted) as client:
        page = await (await client.get(f"/digest/{token}/2026-W25")).text()
    assert "Des bus le dimanche" in page and "secret" not in page


async def test_organisers_replace_the_archive_link(bot, client):
    old = await link(bot, ROOM)
    [refused] = await say(bot, ROOM, ALICE, "!résumé nouveau-lien")
    assert "organisateurs" in refused["content"]["body"]
    [answer] = await say(bot, ROOM, ORGANISER, "!digest new-link")
    found = LINK.search(answer["content"]["body"])
    assert found and found.group(1) != old
    assert (await client.get(old)).status == 404
    assert (await client.get(found.group(1))).status == 200
