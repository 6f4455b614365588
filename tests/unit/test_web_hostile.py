"""A hostile-input pass over every URL the bot serves: each real link kind (calendar feed,
proposals page, digest archive) with bad, unknown, replaced and foreign tokens, traversal and
odd page names, oversized queries and paths: 404 or 400, the same short answer, no trace, and
never another room's content."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient
from harness import ROOM, Harness
from test_web_service import raw_get
from web_client import web_client, with_web

from bot.runtime.clock import FrozenClock
from bot.runtime.config import Config
from storage.web import WebLinkRepository

KINDS = ("agenda", "proposals", "digest")
OTHER = "!other:test"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 6, 19, 8, 0, tzinfo=UTC))


@pytest.fixture
def config(config: Config) -> Config:
    return with_web(config)


@pytest.fixture
async def client(bot: Harness) -> AsyncIterator[TestClient]:
    async with web_client(bot) as c:
        yield c


def tokens(bot: Harness, room_id: str = ROOM) -> dict[str, str]:
    with bot.database.session() as session:
        links = WebLinkRepository(session)
        return {kind: links.get_or_add(room_id, kind, bot.clock.now()).token for kind in KINDS}


def test_every_feature_kind_is_served(bot):
    assert set(bot.services.links.pages) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
async def test_bad_tokens_and_pages_are_404(bot, client, kind):
    good = tokens(bot)[kind]
    for path in [
        f"/{kind}/{good[:-1]}",
        f"/{kind}/{good}x",
        f"/{kind}/{good.upper() if good.upper() != good else good.lower()}",
        f"/{kind}/{'A' * 32}",
        f"/{kind}/{good}/..%2F..%2Fhealthz",
        f"/{kind}/{good}/.",
        f"/{kind}/{good}/%00",
        f"/{kind}/{good}/2026-W99x",
        f"/{kind}/{good}/{'x' * 65}",
        f"/{kind}/{good}/a/b",
        f"/{kind}/{good}/agenda.ics/x",
        f"/{kind}/{good};jsessionid=1",
    ]:
        response = await client.get(path)
        assert response.status == 404, path
        assert await response.text() == "Not found.\n"


@pytest.mark.parametrize("kind", KINDS)
async def test_a_long_query_is_400_and_raw_traversal_gets_nothing(bot, client, kind):
    good = tokens(bot)[kind]
    response = await client.get(f"/{kind}/{good}", params={"tag": "x" * 600})
    assert response.status == 400 and "Traceback" not in await response.text()
    for target in (f"/{kind}/{good}/../../../etc/passwd", f"/{kind}/../{kind}/{good}/.."):
        status, answer = await raw_get(client, target)
        assert status in (400, 404), answer[:300]
        assert "root:" not in answer and "Traceback" not in answer


async def test_a_link_never_shows_another_room(bot, client):
    await bot.say("@alice:test", "!proposition Secret de notre salon #interne")
    mine, theirs = tokens(bot), tokens(bot, OTHER)
    assert mine["proposals"] != theirs["proposals"]
    page = await (await client.get(f"/proposals/{theirs['proposals']}")).text()
    assert "Secret" not in page
    crossed = await client.get(f"/agenda/{mine['proposals']}/agenda.ics")  # a token of a kind
    assert crossed.status == 404  # is not a key to the room's other pages
