"""`!agenda abonnement` / `!agenda nouveau-lien` and the calendar feed they link to, through
the real router and the web service (aiohttp's test client), with a frozen clock."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from harness import ROOM, Harness
from icalendar import Calendar
from web_client import web_client, with_web

from bot.runtime.config import Config, WebConfig
from storage.agenda import AgendaRepository

ORGANISER = "@orga:test"
ANA = "@ana:test"
LINK = re.compile(r"(webcal|https)://concerto\.example\.org(/agenda/[A-Za-z0-9_-]{32}/agenda\.ics)")


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


async def subscribe(bot: Harness, sender: str = ANA, words: str = "abonnement") -> str:
    [answer] = await bot.say(sender, f"!agenda {words}")
    links = LINK.findall(answer)
    assert [scheme for scheme, _ in links] == ["webcal", "https"], answer
    assert links[0][1] == links[1][1]
    return links[0][1]


def events(body: bytes) -> dict[str, dict[str, str]]:
    calendar = Calendar.from_ical(body)
    return {
        str(entry["summary"]): {"status": str(entry.get("status", "")), "uid": str(entry["uid"])}
        for entry in calendar.walk("VEVENT")
    }


async def test_the_feed_follows_the_rooms_agenda_with_304s(bot, client):
    path = await subscribe(bot)
    empty = await client.get(path)
    assert empty.status == 200 and empty.content_type == "text/calendar"
    assert events(await empty.read()) == {}

    await bot.say(ORGANISER, "!événement Atelier ; samedi 20 juin 14h ; lieu: MAME")
    bot.clock.advance(timedelta(minutes=5))
    await bot.say(ORGANISER, "!échéance Dépôt ; 30/06 23h59")
    first = await client.get(path)
    assert set(events(await first.read())) == {"Atelier", "Dépôt"}
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert (await client.get(path, headers={"If-None-Match": etag})).status == 304
    assert (await client.get(path, headers={"If-Modified-Since": modified})).status == 304
    bot.clock.advance(timedelta(hours=1))  # time passing alone changes nothing
    assert (await client.get(path, headers={"If-None-Match": etag})).status == 304

    await bot.say(ORGANISER, "!annuler E1")
    changed = await client.get(path, headers={"If-None-Match": etag})
    assert changed.status == 200 and changed.headers["ETag"] != etag
    assert events(await changed.read())["Atelier"]["status"] == "CANCELLED"
    assert (await client.get(path.removesuffix("/agenda.ics"))).status == 200


async def test_subscribing_twice_gives_the_same_link_in_english_too(bot):
    assert await subscribe(bot) == await subscribe(bot, words="subscribe")


async def test_a_new_link_replaces_the_old_one_for_organisers_only(bot, client):
    old = await subscribe(bot)
    [refused] = await bot.say(ANA, "!agenda nouveau-lien")
    assert "organisateurs" in refused
    assert (await client.get(old)).status == 200
    [answer] = await bot.say(ORGANISER, "!agenda new-link")
    new = LINK.findall(answer)[0][1]
    assert new != old and "ancien lien ne fonctionne plus" in answer
    assert (await client.get(old)).status == 404
    assert (await client.get(new)).status == 200
    assert await subscribe(bot) == new


async def test_an_encrypted_room_gets_no_link_until_its_pages_are_on(bot, client):
    bot.sender.encrypted_rooms.add(ROOM)
    [refused] = await bot.say(ANA, "!agenda abonnement")
    assert "chiffré" in refused and "!réglages pages-web on" in refused
    with bot.database.session() as session:
        from storage.rooms import RoomSettingsRepository

        RoomSettingsRepository(session).update(ROOM, web_pages=True)
    assert (await client.get(await subscribe(bot))).status == 200


@pytest.mark.parametrize("language", ["en"])
async def test_without_a_web_service_the_answer_says_who_can_turn_it_on(bot, language):
    bot.config = replace(bot.config, web=WebConfig())
    off = Harness(bot.database, bot.clock, bot.config, sender=bot.sender, levels=bot.levels)
    [answer] = await off.say(ANA, "!upcoming subscribe")
    assert "no web service" in answer and "[web]" in answer
    [unknown] = await off.say(ANA, "!upcoming everything")
    assert "!agenda abonnement" in unknown


async def test_pages_web_turns_a_rooms_pages_on_with_a_warning_and_off(bot, client):
    path = await subscribe(bot)
    [refused] = await bot.say(ANA, "!réglages pages-web off")
    assert "organisateurs" in refused
    [bad] = await bot.say(ORGANISER, "!réglages pages-web peut-être")
    assert "pas peut-être" in bad and "Utilisation" in bad
    [off] = await bot.say(ORGANISER, "!réglages pages-web off")
    assert "fermées" in off
    assert (await client.get(path)).status == 404
    [again] = await bot.say(ANA, "!agenda abonnement")
    assert "ont fermé ses pages web" in again
    [view] = await bot.say(ANA, "!réglages")
    assert "pages web (pages-web): non servies" in view

    bot.sender.encrypted_rooms.add(ROOM)
    [on] = await bot.say(ORGANISER, "!settings web-pages on")
    assert "sort du chiffrement de bout en bout" in on
    assert (await client.get(path)).status == 200
    [view] = await bot.say(ANA, "!réglages")
    assert "pages web (pages-web): servies" in view


async def test_a_meeting_of_a_series_cancelled_or_moved_changes_the_feed(bot, client):
    path = await subscribe(bot)
    await bot.say(ORGANISER, "!événement Réunion ; tous les mardis à 18h")
    first = await client.get(path)
    assert list(events(await first.read())) == ["Réunion"]
    modified = first.headers["Last-Modified"]
    assert (await client.get(path, headers={"If-Modified-Since": modified})).status == 304
    bot.clock.advance(timedelta(minutes=2))
    with bot.database.session() as session:  # as `!annuler E1 <date>` records it
        repository = AgendaRepository(session)
        [series] = repository.list_all(ROOM)
        assert series.recurrence and series.id is not None
        repository.set_exception(series.id, series.starts_at, "cancelled", bot.clock.now())
    changed = await client.get(path, headers={"If-Modified-Since": modified})
    assert changed.status == 200 and changed.headers["Last-Modified"] != modified
    [entry] = Calendar.from_ical(await changed.read()).walk("VEVENT")
    assert "FREQ=WEEKLY" in entry["rrule"].to_ical().decode()
    assert entry["exdate"].dts[0].dt == series.starts_at  # the cancelled meeting


async def test_the_feed_is_named_after_the_room_even_after_a_restart(bot, monkeypatch):
    async def room_name(room_id: str) -> str | None:
        return "Groupe numérique" if room_id == ROOM else None

    monkeypatch.setattr(bot.sender, "room_name", room_name)
    path = await subscribe(bot)
    restarted = bot.restart()  # the name is read back from the database
    async with web_client(restarted) as client:
        calendar = Calendar.from_ical(await (await client.get(path)).read())
    assert str(calendar["X-WR-CALNAME"]) == "Groupe numérique"
