"""The web service of the real bot process against a real Synapse: a room's calendar feed
follows what is said in the chat (parsed with icalendar), answers 304 while nothing changed, a
replaced link answers 404, every answer carries the security headers, and /healthz turns
unhealthy while the homeserver is down and healthy again after."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from concerto_bot import BotProcess
from icalendar import Calendar
from matrix_people import MakePerson, Person, joined

from bot.runtime.web import SECURITY_HEADERS
from bot.tools.local_homeserver import LocalHomeserver
from bot.tools.shipped_config import env_name

LINKS = re.compile(r"(webcal|https?)://(127\.0\.0\.1:\d+/agenda/[A-Za-z0-9_-]{32}/agenda\.ics)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def web_room(
    make_bot: Callable[..., Awaitable[BotProcess]], make_person: MakePerson
) -> tuple[BotProcess, Person, str, str]:
    """A running bot with its web service on, an organiser and their room with the bot."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bot = await make_bot(
        extra_env={
            env_name("web", "listen"): f"127.0.0.1:{port}",
            env_name("web", "public_url"): base,
        }
    )
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
    """Poll /healthz until it answers ``status`` (the condition waited on), its JSON."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            async with session.get(url) as response:
                if response.status == status:
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
