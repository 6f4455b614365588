"""Pacing against a real Synapse, on the shipped defaults: people typing fast lose nothing; only
a flood far beyond human speed is refused, with one reply naming what was not handled."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import Any

from matrix_people import Person, reply_to

from bot.runtime.config import load_config
from bot.tools.shipped_config import EXAMPLE

SHIPPED = load_config(EXAMPLE, environ={}).bot
CATCHING_UP = "un peu plus lentement"
FLOOD = "Trop de commandes d'un coup"


def rows(bot_directory: Path, query: str) -> list[tuple[Any, ...]]:
    """Read the bot's database read-only (what an organiser would see in !agenda or the list)."""
    path = bot_directory / "data" / "concerto.db"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        return list(connection.execute(query))


def answers_to(person: Person, bot_user: str, room_id: str, asked: Iterable[str]) -> dict:
    """The bot's answers to each command (pacing notices apart), by command event ID."""
    wanted = set(asked)
    found: dict[str, list[dict]] = {event_id: [] for event_id in wanted}
    for event in person.events(room_id):
        content = event.get("content") or {}
        target = (content.get("m.relates_to") or {}).get("m.in_reply_to", {}).get("event_id")
        if event.get("sender") != bot_user or target not in wanted:
            continue
        if CATCHING_UP in content.get("body", "") or FLOOD in content.get("body", ""):
            continue
        found[target].append(event)
    return found


def waited_commands(bot_directory: Path) -> set[str]:
    """Commands that waited their turn: recorded as processed when they started waiting,
    before their answer was queued (a command run at once is recorded after its answer)."""
    return {
        event_id
        for (event_id,) in rows(
            bot_directory,
            "SELECT p.event_id FROM processed_event p JOIN outbox_message o "
            "ON o.key = 'reply:' || p.event_id || ':1' WHERE p.handled_at < o.created_at",
        )
    }


async def wait_all_answered(person: Person, bot_user: str, room_id: str, asked: list[str]) -> dict:
    def done(_event: dict) -> bool:
        return all(answers_to(person, bot_user, room_id, asked).values())

    await person.wait_for(room_id, done, timeout=240)
    return answers_to(person, bot_user, room_id, asked)


async def join(organiser: Person, person: Person, room_id: str) -> None:
    await organiser.invite(room_id, person.user_id)
    await person.join(room_id)


async def test_organiser_pasting_forty_commands_gets_every_one_answered_and_stored_once(bot_room):
    bot, organiser, room_id = bot_room
    lines = []
    for day in range(1, 13):
        lines.append(f"!événement Atelier {day} ; {day} juillet 2027 14h ; lieu: Tours")
        lines.append(f"!échéance Rendu {day} ; {day} août 2027 18h")
        lines.append(f"!proposition Idée {day} pour le groupe #numérique")
    lines += ["!événement Sans date", "!échéance Rendu X ; 31 février", "!sondage Seul ; choix"]
    lines.append("!événement Atelier final ; 30 septembre 2027 10h")
    assert len(lines) == 40
    asked = [await organiser.send_text(room_id, line) for line in lines]  # as fast as it goes

    def bot_messages() -> list[str]:
        return [
            (e.get("content") or {}).get("body", "")
            for e in organiser.events(room_id)
            if e.get("sender") == bot.user_id and e.get("type") == "m.room.message"
        ]

    await organiser.wait_for(room_id, lambda _e: len(bot_messages()) >= 40, timeout=60)
    messages = bot_messages()
    assert not any(CATCHING_UP in body for body in messages)  # an organiser is never slowed
    for day in range(1, 13):  # each announcement exactly once
        assert len([b for b in messages if re.search(rf"E\d+ : Atelier {day}\n", b)]) == 1
        assert len([b for b in messages if re.search(rf"D\d+ : Rendu {day}\n", b)]) == 1
    # proposals and malformed commands are answered in reply, once each
    replied = [i for i, line in enumerate(lines) if line.startswith("!proposition")]
    replied += [36, 37, 38]
    answers = answers_to(organiser, bot.user_id, room_id, [asked[i] for i in replied])
    assert [len(found) for found in answers.values()] == [1] * len(replied)
    assert len(messages) == 40
    titles = [title for (title,) in rows(bot.directory, "SELECT title FROM agenda_item")]
    expected = [f"Atelier {d}" for d in range(1, 13)] + [f"Rendu {d}" for d in range(1, 13)]
    assert sorted(titles) == sorted([*expected, "Atelier final"])
    proposals = [text for (text,) in rows(bot.directory, "SELECT text FROM proposal")]
    assert sorted(proposals) == sorted(f"Idée {d} pour le groupe #numérique" for d in range(1, 13))


async def test_two_members_sending_200_commands_get_200_answers(bot_room, make_person):
    bot, organiser, room_id = bot_room
    members = [await make_person(f"membre{i}") for i in range(2)]
    for member in members:
        await join(organiser, member, room_id)
    # Beyond the shipped pace (60 at once, then 1 a second): some wait their turn. Sent while
    # the bot is suspended, they reach it together however slowly this machine sends them; some
    # of each person's 100 wait unless the bot reads fewer than 2.5 of them a second. Which ones
    # waited is read from the bot's database, so a busier machine is checked all the same.
    per_person = 100

    async def burst(member: Person, who: int) -> list[str]:
        semaphore = asyncio.Semaphore(8)

        async def one(index: int) -> str:
            async with semaphore:
                return await member.send_text(
                    room_id, f"!proposition Membre {who} idée {index} #atelier"
                )

        return list(await asyncio.gather(*(one(i) for i in range(per_person))))

    with bot.frozen():
        sent = await asyncio.gather(*(burst(member, who) for who, member in enumerate(members)))
    asked = [event_id for ids in sent for event_id in ids]
    assert len(set(asked)) == 2 * per_person

    answers = await wait_all_answered(organiser, bot.user_id, room_id, asked)
    assert sum(len(replies) for replies in answers.values()) == 2 * per_person
    notices = [
        e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
        for e in organiser.events(room_id)
        if e.get("sender") == bot.user_id
        and CATCHING_UP in (e.get("content") or {}).get("body", "")
    ]
    waited = waited_commands(bot.directory)
    for who, ids in enumerate(sent):  # told once that the bot is catching up, if it had to
        told = len([target for target in notices if target in ids])
        print(f"member {who}: {len(waited & set(ids))} of {per_person} commands waited")
        assert told == (1 if waited & set(ids) else 0), f"member {who} told {told} times"
    assert set(notices) <= waited  # in reply to a command that waited
    proposals = [text for (text,) in rows(bot.directory, "SELECT text FROM proposal")]
    assert len(proposals) == 2 * per_person and len(set(proposals)) == 2 * per_person


async def test_a_flood_is_contained_named_in_one_reply_and_others_are_still_answered(
    bot_room, make_person
):
    bot, organiser, room_id = bot_room
    script = await make_person("script")
    neighbour = await make_person("voisine")
    await join(organiser, script, room_id)
    await join(organiser, neighbour, room_id)
    flood = SHIPPED.commands_per_minute + SHIPPED.max_waiting_commands + 40
    asked = [await script.send_text(room_id, f"!proposition Flot {i:03d}") for i in range(flood)]

    # someone else in the room is answered while the flood's queue is still being worked through
    question = await neighbour.send_text(room_id, "!aide")
    await neighbour.wait_for(room_id, reply_to(bot.user_id, question), timeout=30)

    report = await script.wait_for(
        room_id,
        lambda e: (
            e.get("sender") == bot.user_id and FLOOD in (e.get("content") or {}).get("body", "")
        ),
        timeout=60,
    )
    body = report["content"]["body"]
    refused_count = int(body.split(":", 1)[1].split()[0])
    assert 0 < refused_count <= 50
    texts = {
        e["event_id"]: e["content"]["body"]
        for e in script.events(room_id)
        if e["event_id"] in asked
    }

    # Nothing else is lost: every command not refused is handled or waiting its turn. (Read the
    # queue first: a command that leaves it meanwhile is then seen in both, never in neither.)
    waiting = {eid for (eid,) in rows(bot.directory, "SELECT event_id FROM waiting_command")}
    stored = {text for (text,) in rows(bot.directory, "SELECT text FROM proposal")}
    handled = {eid for eid in asked if texts[eid].removeprefix("!proposition ") in stored}
    refused = set(asked) - handled - waiting
    assert len(refused) == refused_count
    quoted = {line.removeprefix("• ") for line in body.splitlines() if line.startswith("• ")}
    assert quoted == {texts[event_id] for event_id in refused}  # the report names each one
    assert waiting - handled, "the flood's queue should still be worked through"
    # the queue moves on, in order: the next waiting command is answered in its turn, once
    following = next(eid for eid in asked if eid in waiting - handled)
    await script.wait_for(room_id, reply_to(bot.user_id, following), timeout=30)
    answers = answers_to(script, bot.user_id, room_id, asked)
    assert all(len(found) <= 1 for found in answers.values())
    assert not any(answers_to(script, bot.user_id, room_id, refused).values())
    reports = [
        e
        for e in script.events(room_id)
        if e.get("sender") == bot.user_id and FLOOD in (e.get("content") or {}).get("body", "")
    ]
    assert len(reports) == 1
