"""The web service of the real bot process against a real Synapse: a room's calendar feed
follows what is said in the chat (parsed with icalendar), answers 304 while nothing changed, a
replaced link answers 404, every answer carries the security headers; the proposals page and
digest archive show what the room said, an erased person's proposals leave them at once, and
they stop when the bot is removed from the room; an encrypted room's pages are refused until an
organiser turns them on; /healthz turns unhealthy while the homeserver is down and healthy
again after."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import nio
import pytest
from concerto_bot import BotProcess
from encrypted_people import MakeEncrypted
from icalendar import Calendar
from matrix_people import MakePerson, Person, joined, reaction_to

from bot.runtime.web import SECURITY_HEADERS
from bot.tools.local_homeserver import LocalHomeserver
from bot.tools.shipped_config import env_name

LINKS = re.compile(r"(webcal|https?)://(127\.0\.0\.1:\d+/agenda/[A-Za-z0-9_-]{32}/agenda\.ics)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def web_bot(make_bot: Callable[..., Awaitable[BotProcess]]) -> tuple[BotProcess, str]:
    """A running bot with its web service on, and the service's address."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bot = await make_bot(
        extra_env={
            env_name("web", "listen"): f"127.0.0.1:{port}",
            env_name("web", "public_url"): base,
        }
    )
    return bot, base


@pytest.fixture
async def web_room(
    web_bot: tuple[BotProcess, str], make_person: MakePerson
) -> tuple[BotProcess, Person, str, str]:
    """A running bot with its web service on, an organiser and their room with the bot."""
    bot, base = web_bot
    organiser = await make_person("organiser")
    room_id = await organiser.create_room("Groupe de travail", invite=[bot.user_id])
    await organiser.wait_for(room_id, joined(bot.user_id), timeout=30)
    return bot, organiser, room_id, base


def from_bot(bot: BotProcess, contains: str) -> Callable[[dict], bool]:
    def match(event: dict) -> bool:
        body = str((event.get("content") or {}).get("body", ""))
        return event.get("sender") == bot.user_id and contains in body

    return match


async def ask(person: Person, room_id: str, bot: BotProcess, command: str, contains: str) -> str:
    asked = await person.send_text(room_id, command)
    reply = await person.wait_for(room_id, from_bot(bot, contains), after=asked, timeout=30)
    return str(reply["content"]["body"])


def feed_link(answer: str) -> str:
    found = LINKS.findall(answer)
    assert [scheme for scheme, _ in found] == ["webcal", "http"], answer
    assert found[0][1] == found[1][1]
    return "http://" + found[1][1]


def summaries(body: bytes) -> dict[str, str]:
    return {
        str(event["summary"]): str(event.get("status", "CONFIRMED"))
        for event in Calendar.from_ical(body).walk("VEVENT")
    }


async def until_status(
    session: aiohttp.ClientSession,
    url: str,
    status: int,
    timeout: float = 60,  # noqa: ASYNC109
) -> dict:
    """Poll ``url`` until it answers ``status`` (the condition waited on); its JSON, if any."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            async with session.get(url) as response:
                if response.status == status:
                    if response.content_type != "application/json":
                        return {}  # a page, not /healthz
                    body: dict = await response.json()
                    return body
                last = (response.status, await response.text())
        except aiohttp.ClientConnectionError as error:
            last = error
        # Once a second: the service's per-address limit (60 a minute) holds for probes too.
        await asyncio.sleep(1)
    raise AssertionError(f"{url} never answered {status}; last: {last}")


async def test_calendar_feed_follows_the_chat_and_a_replaced_link_is_gone(web_room):
    bot, organiser, room_id, base = web_room
    async with aiohttp.ClientSession() as http:
        await until_status(http, f"{base}/healthz", 200)
        feed = feed_link(await ask(organiser, room_id, bot, "!agenda abonnement", "webcal://"))

        async with http.get(feed) as response:
            assert response.status == 200
            assert response.content_type == "text/calendar"
            for name, value in SECURITY_HEADERS.items():
                assert response.headers[name] == value
            assert summaries(await response.read()) == {}

        await ask(organiser, room_id, bot, "!événement Atelier ; 11 mai 2027 9h30", "Atelier")
        await ask(organiser, room_id, bot, "!échéance Dépôt ; 30 juin 2027 23h59", "Dépôt")
        async with http.get(feed) as response:
            assert summaries(await response.read()) == {
                "Atelier": "CONFIRMED",
                "Dépôt": "CONFIRMED",
            }
            etag = response.headers["ETag"]
        async with http.get(feed, headers={"If-None-Match": etag}) as response:
            assert response.status == 304

        await ask(organiser, room_id, bot, "!annuler E1", "annulé")
        async with http.get(feed, headers={"If-None-Match": etag}) as response:
            assert response.status == 200
            assert summaries(await response.read())["Atelier"] == "CANCELLED"

        answer = await ask(organiser, room_id, bot, "!agenda nouveau-lien", "webcal://")
        new_feed = feed_link(answer)
        assert new_feed != feed
        async with http.get(feed) as response:
            assert response.status == 404
            assert await response.text() == "Not found.\n"
            assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
        async with http.get(new_feed) as response:
            assert set(summaries(await response.read())) == {"Atelier", "Dépôt"}


async def test_healthz_follows_the_homeserver(web_room, homeserver: LocalHomeserver):
    _bot, _organiser, _room_id, base = web_room
    async with aiohttp.ClientSession() as http:
        healthy = await until_status(http, f"{base}/healthz", 200)
        assert healthy["database"] == {"ok": True} and healthy["outbox"]["ok"]
        await asyncio.to_thread(homeserver.stop)
        try:
            down = await until_status(http, f"{base}/healthz", 503)
            assert down["sync"]["ok"] is False and down["sync"]["failures"] >= 2
        finally:
            await asyncio.to_thread(homeserver.start)
        await until_status(http, f"{base}/healthz", 200)


def page_link(answer: str, kind: str) -> str:
    found = re.search(r"http://127\.0\.0\.1:\d+/" + kind + r"/[A-Za-z0-9_-]{32}", answer)
    assert found, answer
    return found.group(0)


async def test_proposals_page_follows_the_room_and_forgets_who_asked(web_room, make_person):
    bot, organiser, room_id, _base = web_room
    member = await make_person("membre")
    await organiser.invite(room_id, member.user_id)
    await member.join(room_id)
    said = await member.send_text(room_id, "Des bus le dimanche #proposition #mobilité")
    await member.wait_for(room_id, reaction_to(said, "📝", sender=bot.user_id))
    await ask(
        organiser, room_id, bot, "!proposition Un fablab <script>x()</script> #numérique", "P"
    )
    page = page_link(await ask(member, room_id, bot, "!propositions lien", "http://"), "proposals")
    archive = page_link(await ask(member, room_id, bot, "!résumé lien", "http://"), "digest")

    async with aiohttp.ClientSession() as http:
        async with http.get(page) as response:
            assert response.status == 200
            for name, value in SECURITY_HEADERS.items():
                assert response.headers[name] == value
            html = await response.text()
        assert "Des bus le dimanche" in html and "#mobilité" in html
        assert "&lt;script&gt;x()&lt;/script&gt;" in html and "<script" not in html
        async with http.get(page, params={"tag": "numérique"}) as response:
            html = await response.text()
        assert "fablab" in html and "Des bus" not in html
        async with http.get(archive) as response:
            assert response.status == 200
            assert "Aucun résumé n'a encore été publié ici." in await response.text()

        await ask(member, room_id, bot, "!oublie-moi", "5 minutes")
        await ask(member, room_id, bot, "!oublie-moi", "C'est fait")
        async with http.get(page) as response:
            html = await response.text()
        assert "Des bus" not in html and "fablab" in html

        kicked = await organiser.client.room_kick(room_id, bot.user_id)
        assert isinstance(kicked, nio.RoomKickResponse), kicked
        await until_status(http, page, 404)  # the bot is out: the room's pages are gone
        async with http.get(archive) as response:
            assert response.status == 404


async def test_encrypted_room_pages_wait_for_an_organiser(
    web_bot: tuple[BotProcess, str], make_encrypted_person: MakeEncrypted
):
    bot, _base = web_bot
    alice = await make_encrypted_person("alice")
    room_id = await alice.create_encrypted_room("Groupe chiffré", invite=[bot.user_id])
    await alice.wait_for(room_id, joined(bot.user_id), timeout=30)

    refused = await ask(alice, room_id, bot, "!agenda abonnement", "chiffré")
    assert "!réglages pages-web on" in refused and "http" not in refused
    warning = await ask(alice, room_id, bot, "!réglages pages-web on", "bout en bout")
    assert "!réglages pages-web off" in warning
    feed = feed_link(await ask(alice, room_id, bot, "!agenda abonnement", "webcal://"))
    async with aiohttp.ClientSession() as http:
        async with http.get(feed) as response:
            assert response.status == 200
        await ask(alice, room_id, bot, "!réglages pages-web off", "fermées")
        async with http.get(feed) as response:
            assert response.status == 404


WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


async def test_a_series_in_the_feed_carries_its_rule_and_its_cancelled_meeting(web_room):
    bot, organiser, room_id, _base = web_room
    paris = ZoneInfo("Europe/Paris")  # the rooms' default timezone
    meeting = (datetime.now(UTC) + timedelta(hours=2)).astimezone(paris)
    meeting = meeting.replace(second=0, microsecond=0)
    rule = f"tous les {WEEKDAYS[meeting.weekday()]}s à {meeting:%H:%M}"
    announced = await ask(organiser, room_id, bot, f"!événement Réunion ; {rule}", "Réunion")
    label = announced.split("Événement ", 1)[1].split(" ", 1)[0]
    skipped = meeting + timedelta(days=7)
    await ask(organiser, room_id, bot, f"!annuler {label} le {skipped:%d/%m/%Y}", "est annulée")
    feed = feed_link(await ask(organiser, room_id, bot, "!agenda abonnement", "webcal://"))
    async with aiohttp.ClientSession() as http, http.get(feed) as response:
        [entry] = Calendar.from_ical(await response.read()).walk("VEVENT")
    assert entry["dtstart"].dt == meeting
    assert entry["rrule"]["FREQ"] == ["WEEKLY"]
    assert [when.dt for when in entry["exdate"].dts] == [skipped]
