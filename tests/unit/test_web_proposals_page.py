"""`!propositions lien` and the proposals page: every proposal, most supported first, themes
as plain links, escaped text, nothing of an erased author or a deleted message, no script."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from harness import Harness
from web_client import web_client, with_web

from bot.runtime.config import Config

ORGANISER = "@orga:test"
ALICE = "@alice:test"
BOB = "@bob:test"
CAROL = "@carol:test"
LINK = re.compile(r"https://concerto\.example\.org(/proposals/[A-Za-z0-9_-]{32})(?![A-Za-z0-9_-])")


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 50}


@pytest.fixture
def config(config: Config) -> Config:
    return with_web(config)


@pytest.fixture
async def client(bot: Harness) -> AsyncIterator[TestClient]:
    async with web_client(bot) as c:
        yield c


async def propose(bot: Harness, sender: str, text: str) -> str:
    event = bot.message(sender, f"!proposition {text}")
    await bot.deliver(event)
    bot.clock.advance(timedelta(minutes=1))
    return str(event["event_id"])


async def support(bot: Harness, sender: str, target: str) -> None:
    await bot.deliver(bot.reaction(sender, target, "👍"))


async def page_link(bot: Harness, words: str = "lien") -> str:
    [answer] = await bot.say(BOB, f"!propositions {words}")
    found = LINK.search(answer)
    assert found, answer
    return found.group(1)


def order(html: str) -> list[str]:
    return re.findall(r'<article id="(P\d+)">', html)


async def seeded(bot: Harness) -> dict[str, str]:
    ids = {
        "bikes": await propose(bot, ALICE, "Des vélos partagés #Mobilité #ESS"),
        "hall": await propose(bot, BOB, "Une salle <script>alert(1)</script> ouverte #tiers-lieux"),
        "bus": await propose(bot, CAROL, "Un bus le dimanche #mobilite"),
    }
    await support(bot, BOB, ids["bus"])
    await support(bot, ALICE, ids["bus"])
    await support(bot, CAROL, ids["hall"])
    return ids


async def test_the_page_lists_every_proposal_most_supported_first(bot, client):
    await seeded(bot)
    path = await page_link(bot)
    assert await page_link(bot, "link") == path
    response = await client.get(path)
    assert response.status == 200 and response.content_type == "text/html"
    html = await response.text()
    assert order(html) == ["P3", "P2", "P1"]  # 2 supports, 1, then none
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "3 propositions, les plus soutenues d'abord." in html
    assert '<a href="?tag=Mobilit%C3%A9">#Mobilité (2)</a>' in html
    assert 'href="https://matrix.to/#/!room:test/' in html
    assert "👍 2" in html and "en discussion" in html


async def test_a_theme_filters_with_plain_links_and_synonyms(bot, client):
    await seeded(bot)
    await bot.say(ORGANISER, "!réglages synonyme #ess = #mobilite")
    path = await page_link(bot)
    html = await (await client.get(path, params={"tag": "mobilité"})).text()
    assert order(html) == ["P3", "P1"]
    assert 'aria-current="page">#Mobilité (2)' in html
    html = await (await client.get(path, params={"tag": "ESS"})).text()
    assert order(html) == ["P3", "P1"]  # #ESS means #mobilite here
    html = await (await client.get(path, params={"tag": "../../x" * 40})).text()
    assert order(html) == [] and "Aucune proposition n'a ce thème." in html


async def test_deleted_and_erased_proposals_are_gone_at_once(bot, client):
    ids = await seeded(bot)
    path = await page_link(bot)
    await bot.deliver(bot.redaction(BOB, ids["hall"]))
    html = await (await client.get(path)).text()
    assert order(html) == ["P3", "P1"] and "Une salle" not in html
    await bot.say(ALICE, "!oublie-moi")
    await bot.say(ALICE, "!oublie-moi")
    html = await (await client.get(path)).text()
    assert order(html) == ["P3"]
    assert "vélos" not in html and "alice" not in html.lower()
    assert "supprimé à la demande" not in html


@pytest.mark.parametrize("language", ["en"])
async def test_an_empty_room_says_so_in_its_language(bot, client, language):
    html = await (await client.get(await page_link(bot, "link"))).text()
    assert '<html lang="en">' in html and "No proposal in this room yet." in html
    [tagged] = await bot.say(BOB, "!proposals #lien")  # a #lien tag is still a filter
    assert "#lien" in tagged


async def test_organisers_replace_the_link_and_the_old_one_is_gone(bot, client):
    old = await page_link(bot)
    [refused] = await bot.say(BOB, "!propositions nouveau-lien")
    assert "organisateurs" in refused
    assert (await client.get(old)).status == 200
    [answer] = await bot.say(ORGANISER, "!proposals new-link")
    new = LINK.search(answer).group(1)
    assert new != old and "L'ancien lien ne fonctionne plus." in answer
    assert (await client.get(old)).status == 404
    assert (await client.get(new)).status == 200
    assert await page_link(bot) == new


async def test_the_page_is_titled_with_the_rooms_name_even_after_a_restart(bot, monkeypatch):
    async def room_name(room_id: str) -> str | None:
        return "Groupe <mobilité>"

    monkeypatch.setattr(bot.sender, "room_name", room_name)
    path = await page_link(bot)
    async with web_client(bot.restart()) as client:
        html = await (await client.get(path)).text()
    assert "<h1>Propositions — Groupe &lt;mobilité&gt;</h1>" in html
