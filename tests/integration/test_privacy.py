"""Privacy against a real Synapse and the real bot process: the notice, the export sent in a
direct room (JSON file downloaded and read), and the erasure checked in the bot's database."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import nio
from matrix_people import of_type, reaction_to

ERASED = "« supprimé à la demande de l'auteur »"
IDEA = "Un jardin partagé derrière la mairie"
POLL_START = "org.matrix.msc3381.poll.start"
ONE = "1\ufe0f\u20e3"


def notice_from(bot_id: str, contains: str = ""):
    def match(event: dict) -> bool:
        content = event.get("content") or {}
        return (
            event.get("sender") == bot_id
            and content.get("msgtype") == "m.notice"
            and contains in str(content.get("body", ""))
        )

    return match


def query(bot, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the bot's database read-only."""
    path = Path(bot.directory) / "data" / "concerto.db"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        return list(connection.execute(sql, params))


async def ask(person, bot, room_id: str, body: str, contains: str = "") -> dict:
    asked = await person.send_text(room_id, body)
    return await person.wait_for(room_id, notice_from(bot.user_id, contains), after=asked)


async def test_privacy_notice_export_in_a_direct_room_and_erasure(bot_room, make_person):
    bot, organiser, room_id = bot_room
    member = await make_person("membre")
    await organiser.invite(room_id, member.user_id)
    await member.join(room_id)

    # What the member leaves behind: a proposal, a support, a poll vote, an RSVP.
    said = await member.send_text(room_id, f"!proposition {IDEA} #écologie")
    await member.wait_for(room_id, reaction_to(said, "📝", sender=bot.user_id))
    other = await organiser.send_text(room_id, "Des bancs dans le parc #proposition #urbanisme")
    await organiser.wait_for(room_id, reaction_to(other, "📝", sender=bot.user_id))
    await member.react(room_id, other, "👍")
    announcement = await ask(organiser, bot, room_id, "!événement Atelier ; dans 3 jours 14h")
    await member.react(room_id, announcement["event_id"], "✅")
    asked = await organiser.send_text(room_id, "!sondage Quel jour ? ; lundi ; mardi")
    poll = await organiser.wait_for(room_id, of_type(POLL_START, sender=bot.user_id), after=asked)
    await member.react(room_id, poll["event_id"], ONE)

    notice = await ask(member, bot, room_id, "!confidentialité")
    body = notice["content"]["body"]
    assert "365 jours" in body and "!mes-données" in body and "!oublie-moi" in body

    # The export: a short reply here, then an invite to a direct room with the file.
    reply = await ask(member, bot, room_id, "!mes-données")
    assert "message privé" in reply["content"]["body"]
    direct = await member.wait_for_invite(timeout=30)
    await member.join(direct)

    def is_file(event: dict) -> bool:
        content = event.get("content") or {}
        return event.get("sender") == bot.user_id and content.get("msgtype") == "m.file"

    file = await member.wait_for(direct, is_file, timeout=30)
    assert file["content"]["info"]["mimetype"] == "application/json"
    downloaded = await member.client.download(file["content"]["url"])
    assert isinstance(downloaded, nio.MemoryDownloadResponse), downloaded
    data = json.loads(downloaded.body)
    assert data["user_id"] == member.user_id
    assert [p["text"] for p in data["proposals"]] == [f"{IDEA} #écologie"]
    assert data["proposals"][0]["tags"] == ["écologie"]
    assert [r["kind"] for r in data["proposal_reactions"]] == ["support"]
    assert [v["answers"] for v in data["poll_votes"]] == [["lundi"]]
    assert [r["answer"] for r in data["rsvps"]] == ["going"]
    summary = await member.wait_for(direct, notice_from(bot.user_id, IDEA))
    assert "Vos propositions (1)" in summary["content"]["body"]

    # Asked again: the same direct room is reused.
    await ask(member, bot, room_id, "!my-data", "message privé")
    await member.wait_for(direct, is_file, after=file["event_id"], timeout=30)
    assert member.invites() == [room_id, direct]  # no second direct room
    assert query(bot, "SELECT room_id FROM privacy_direct_room") == [(direct,)]

    # Erasure: asks for confirmation, nothing changes until it is repeated.
    confirm = await ask(member, bot, room_id, "!oublie-moi")
    assert "dans les 5 minutes" in confirm["content"]["body"]
    assert query(bot, "SELECT text FROM proposal WHERE author = ?", member.user_id) == [
        (f"{IDEA} #écologie",)
    ]
    done = await ask(member, bot, room_id, "!oublie-moi", "C'est fait")
    assert "restent tels quels" in done["content"]["body"]
    assert "Traceback" not in bot.log_text()

    me = member.user_id
    texts = [row[0] for row in query(bot, "SELECT text FROM proposal ORDER BY id")]
    assert texts == [ERASED, "Des bancs dans le parc #proposition #urbanisme"]
    assert query(bot, "SELECT count(*) FROM proposal WHERE author = ?", me) == [(0,)]
    assert query(bot, "SELECT count(*) FROM proposal_reaction WHERE user_id = ?", me) == [(0,)]
    assert query(bot, "SELECT count(*) FROM poll_ballot WHERE voter = ?", me) == [(0,)]
    assert query(bot, "SELECT count(*) FROM event_rsvp WHERE user_id = ?", me) == [(0,)]
    assert query(bot, "SELECT count(*) FROM privacy_direct_room") == [(0,)]
    tags = query(
        bot,
        "SELECT t.display FROM proposal_tag t JOIN proposal p ON p.id = t.proposal_id"
        " WHERE p.text = ?",
        ERASED,
    )
    assert tags == []
    for table, column in [("proposal", "text"), ("outbox_message", "content")]:
        rows = query(bot, f"SELECT count(*) FROM {table} WHERE {column} LIKE ?", f"%{IDEA}%")
        assert rows == [(0,)], table

    listing = await ask(organiser, bot, room_id, "!propositions")
    assert ERASED in listing["content"]["body"]
    assert IDEA not in listing["content"]["body"]


async def test_privacy_english_room_and_a_new_direct_room_after_the_person_left(
    bot_room, make_person
):
    bot, organiser, room_id = bot_room
    await ask(organiser, bot, room_id, "!réglages langue en")
    notice = await ask(organiser, bot, room_id, "!privacy")
    body = notice["content"]["body"]
    assert "365 days" in body and "!my-data" in body and "!forget-me" in body

    reply = await ask(organiser, bot, room_id, "!my-data")
    assert "direct message" in reply["content"]["body"]
    first = await organiser.wait_for_invite(timeout=30)
    await organiser.join(first)
    summary = await organiser.wait_for(first, notice_from(bot.user_id, "Nothing is stored"))
    assert organiser.user_id in summary["content"]["body"]
    await organiser.leave(first)  # the bot, alone, leaves too

    await ask(organiser, bot, room_id, "!my-data", "direct message")
    second = await organiser.wait_for_invite(timeout=30)
    assert second != first
    await organiser.join(second)
    await organiser.wait_for(second, notice_from(bot.user_id, "Nothing is stored"), timeout=30)
    assert query(bot, "SELECT room_id FROM privacy_direct_room") == [(second,)]
    # The daily purge was planned at start.
    assert query(bot, "SELECT status FROM scheduled_task WHERE kind = 'retention'") == [
        ("pending",)
    ]
