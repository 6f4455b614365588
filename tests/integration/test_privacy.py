"""Privacy against a real Synapse and the real bot process: the notice, the export sent in a
direct room (JSON file downloaded and read; encrypted room and attachment when the bot can
encrypt, plain ones when it cannot), and the erasure checked in the bot's database."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import nio
from encrypted_people import raw_messages
from matrix_people import Person, joined, of_type, reaction_to
from nio.crypto.attachments import decrypt_attachment

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


async def ask(
    person,
    bot,
    room_id: str,
    body: str,
    contains: str = "",
    timeout: float = 15,  # noqa: ASYNC109
) -> dict:
    asked = await person.send_text(room_id, body)
    return await person.wait_for(
        room_id, notice_from(bot.user_id, contains), after=asked, timeout=timeout
    )


async def enter(person: Person, room_id: str) -> None:
    """Join, and wait until the person's own client knows the room (it encrypts from then)."""
    await person.join(room_id)
    await person.wait_for(room_id, joined(person.user_id), timeout=30)


def file_from(bot_id: str):
    def match(event: dict) -> bool:
        content = event.get("content") or {}
        return event.get("sender") == bot_id and content.get("msgtype") == "m.file"

    return match


async def downloaded_json(person: Person, content: dict[str, Any]) -> Any:
    """The JSON of an ``m.file``: decrypted when it is an encrypted attachment."""
    file = content.get("file")
    url = file["url"] if file else content["url"]
    downloaded = await person.client.download(url)
    assert isinstance(downloaded, nio.MemoryDownloadResponse), downloaded
    body = downloaded.body
    if file:
        body = decrypt_attachment(body, file["key"]["k"], file["hashes"]["sha256"], file["iv"])
    return json.loads(body)


async def without_encryption(bot) -> None:
    """Restart the bot with its keys lost and no password: it can no longer encrypt."""
    assert await bot.stop() == 0
    for path in (bot.directory / "data" / "crypto").iterdir():
        path.unlink()
    bot.extra_env["CONCERTO_MATRIX_PASSWORD"] = ""
    bot.start()


async def test_privacy_notice_export_in_a_direct_room_and_erasure(bot_room, make_encrypted_person):
    bot, organiser, room_id = bot_room
    member = await make_encrypted_person("membre")  # the direct room is encrypted
    await organiser.invite(room_id, member.user_id)
    await enter(member, room_id)

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

    is_file = file_from(bot.user_id)
    file = await member.wait_for(direct, is_file, timeout=30)
    assert file["content"]["info"]["mimetype"] == "application/json"
    data = await downloaded_json(member, file["content"])
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


async def test_privacy_my_data_arrives_encrypted_when_the_bot_can_encrypt(
    bot_room, make_encrypted_person
):
    bot, organiser, room_id = bot_room
    person = await make_encrypted_person("chiffree")
    await organiser.invite(room_id, person.user_id)
    await enter(person, room_id)
    said = await person.send_text(room_id, f"!proposition {IDEA}")
    await person.wait_for(room_id, reaction_to(said, "📝", sender=bot.user_id))

    await ask(person, bot, room_id, "!mes-données", "message privé")
    direct = await person.wait_for_invite(timeout=30)
    await person.join(direct)

    # The person's client decrypts both the summary and the file event.
    summary = await person.wait_for(direct, notice_from(bot.user_id, IDEA), timeout=30)
    assert "Vos propositions (1)" in summary["content"]["body"]
    file = await person.wait_for(direct, file_from(bot.user_id), timeout=30)
    content = file["content"]
    assert "url" not in content
    assert content["file"]["url"].startswith("mxc://")
    assert content["info"]["mimetype"] == "application/json"
    data = await downloaded_json(person, content)
    assert data["user_id"] == person.user_id
    assert [p["text"] for p in data["proposals"]] == [IDEA]

    # The server only ever had ciphertext: the room is encrypted from its creation, every
    # message from the bot is m.room.encrypted, and the stored file is not the JSON.
    stored = await raw_messages(person, direct)
    assert [e["content"] for e in stored if e["type"] == "m.room.encryption"] == [
        {"algorithm": "m.megolm.v1.aes-sha2"}
    ]
    by_id = {event["event_id"]: event for event in stored}
    assert by_id[summary["event_id"]]["type"] == "m.room.encrypted"
    assert by_id[file["event_id"]]["type"] == "m.room.encrypted"
    from_bot = [e for e in stored if e["sender"] == bot.user_id and "state_key" not in e]
    assert {e["type"] for e in from_bot} == {"m.room.encrypted"}
    ciphertext = await person.client.download(content["file"]["url"])
    assert isinstance(ciphertext, nio.MemoryDownloadResponse), ciphertext
    assert IDEA.encode() not in ciphertext.body and person.user_id.encode() not in ciphertext.body
    assert "Traceback" not in bot.log_text()


async def test_privacy_english_room_and_a_new_direct_room_after_the_person_left(
    bot_room, make_person
):
    """A bot that cannot encrypt still opens an unencrypted direct room, with a plain file;
    once it can encrypt again, that room is replaced by an encrypted one."""
    bot, organiser, room_id = bot_room
    await without_encryption(bot)
    await ask(organiser, bot, room_id, "!réglages langue en", timeout=30)
    notice = await ask(organiser, bot, room_id, "!privacy")
    body = notice["content"]["body"]
    assert "365 days" in body and "!my-data" in body and "!forget-me" in body

    reply = await ask(organiser, bot, room_id, "!my-data")
    assert "direct message" in reply["content"]["body"]
    first = await organiser.wait_for_invite(timeout=30)
    await organiser.join(first)
    summary = await organiser.wait_for(first, notice_from(bot.user_id, "Nothing is stored"))
    assert organiser.user_id in summary["content"]["body"]
    file = await organiser.wait_for(first, file_from(bot.user_id), timeout=30)
    assert "file" not in file["content"]
    assert (await downloaded_json(organiser, file["content"]))["user_id"] == organiser.user_id
    stored = await raw_messages(organiser, first)
    assert not [e for e in stored if e["type"] in ("m.room.encryption", "m.room.encrypted")]
    assert "crypto store does not hold" in bot.log_text()
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

    # Started again with its password, the bot can encrypt (as a new device): the stored,
    # unencrypted direct room is replaced by a new, encrypted one.
    assert await bot.stop() == 0
    bot.extra_env["CONCERTO_MATRIX_PASSWORD"] = bot.account.password
    bot.start()
    await ask(organiser, bot, room_id, "!my-data", "direct message", timeout=30)
    third = await organiser.wait_for_invite(timeout=30)
    assert third not in (first, second)
    assert query(bot, "SELECT room_id FROM privacy_direct_room") == [(third,)]
    await organiser.join(third)
    await organiser.wait_for(third, of_type("m.room.encrypted", sender=bot.user_id), timeout=30)
    stored = await raw_messages(organiser, third)
    assert [e["type"] for e in stored if e["type"] == "m.room.encryption"] == ["m.room.encryption"]
    assert not [e for e in stored if e["sender"] == bot.user_id and e["type"] == "m.room.message"]
