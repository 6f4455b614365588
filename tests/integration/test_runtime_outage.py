"""The homeserver goes away or slows the bot down: the bot waits, catches up, loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from concerto_bot import BotProcess
from matrix_people import Person, joined, reply_to

from bot.tools.local_homeserver import LocalHomeserver


async def test_homeserver_restart_is_survived_and_caught_up(bot_room, homeserver: LocalHomeserver):
    bot, organiser, room_id = bot_room
    first = await organiser.send_text(room_id, "!aide aide")
    await organiser.wait_for(room_id, reply_to(bot.user_id, first))

    await asyncio.to_thread(homeserver.stop)
    await asyncio.to_thread(homeserver.start)

    after = await organiser.send_text(room_id, "!aide réglages")
    await organiser.wait_for(room_id, reply_to(bot.user_id, after), timeout=60)
    assert bot.is_running()
    assert "homeserver problem" in bot.log_text()
    replies = [e for e in organiser.events(room_id) if reply_to(bot.user_id, first)(e)]
    assert len(replies) == 1


@pytest.fixture(scope="module")
def limited_homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHomeserver]:
    """A second homeserver with Synapse's default message rate limits (burst 10, 0.2/s)."""
    server = LocalHomeserver(tmp_path_factory.mktemp("limited"), rate_limited=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_rate_limited_bot_still_answers_everything(limited_homeserver, tmp_path):
    hs = limited_homeserver
    people = []
    try:
        for index in range(3):
            user = await asyncio.to_thread(hs.register, f"p{index}", "password-p")
            people.append(await Person.start(hs.url, user))
        bot_account = await asyncio.to_thread(hs.register, "concerto", "password-bot")
        bot = BotProcess(hs, bot_account, tmp_path)
        bot.start()
        organiser = people[0]
        room_id = await organiser.create_room("Limité", invite=[bot.user_id])
        await organiser.wait_for(room_id, joined(bot.user_id), timeout=30)
        for person in people[1:]:
            await organiser.invite(room_id, person.user_id)
            await person.join(room_id)
        asked = []
        for person in people:
            for index in range(5):
                asked.append(await person.send_text(room_id, f"!aide aide {index}"))
        for event_id in asked:  # 15 replies: 10 in the burst, the rest spaced by the server
            await organiser.wait_for(room_id, reply_to(bot.user_id, event_id), timeout=120)
        replies = [e for e in organiser.events(room_id) if e.get("sender") == bot.user_id]
        assert len([e for e in replies if e.get("type") == "m.room.message"]) == 15
        assert "rate limited" in bot.log_text()
        await bot.stop()
    finally:
        for person in people:
            await person.close()
