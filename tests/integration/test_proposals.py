"""Proposals against a real Synapse and the real bot process: capture by command and by
hashtag, listing by folded tag, supports, edits, deletions, bad input, downtime capture."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from matrix_people import reaction_to, reply_to

ACK = "📝"
TOO_LONG = "Une très longue proposition " + "x" * 2100 + " #proposition"


def stored_proposals(bot_directory: Path) -> list[tuple[str, str]]:
    """(event_id, text) of every stored proposal, read from the bot's database read-only."""
    path = bot_directory / "data" / "concerto.db"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        return list(connection.execute("SELECT event_id, text FROM proposal ORDER BY id"))


async def ask(person, bot, room_id: str, body: str) -> dict:
    """Send a command and return the bot's notice answering it."""
    asked = await person.send_text(room_id, body)
    return await person.wait_for(room_id, reply_to(bot.user_id, asked, msgtype="m.notice"))


async def test_proposals_capture_by_command_and_hashtag_then_list_by_folded_tag(
    bot_room, make_person
):
    bot, organiser, room_id = bot_room
    member = await make_person("member")
    await organiser.invite(room_id, member.user_id)
    await member.join(room_id)

    asked = await organiser.send_text(room_id, "!proposition Fibre dans chaque canton #numérique")
    await organiser.wait_for(room_id, reaction_to(asked, ACK, sender=bot.user_id))
    notice = await organiser.wait_for(room_id, reply_to(bot.user_id, asked, msgtype="m.notice"))
    assert notice["content"]["body"].startswith("Proposition P")
    assert notice["content"]["body"].endswith("enregistrée (#numérique).")

    # passive capture in a thread: a reaction, no message
    said = await member.send_text(
        room_id,
        "Médiation <script>alert('x')</script> #proposition #Numérique #ESS",
        thread_root=asked,
    )
    await member.wait_for(room_id, reaction_to(said, ACK, sender=bot.user_id))
    other = await member.send_text(room_id, "Plus de vélos #proposal #mobilité")
    await member.wait_for(room_id, reaction_to(other, ACK, sender=bot.user_id))
    await member.assert_no_event(
        room_id, reply_to(bot.user_id, said, msgtype="m.notice"), after=said
    )

    listing = await ask(member, bot, room_id, "!propositions #Numerique")
    body, html = listing["content"]["body"], listing["content"]["formatted_body"]
    assert "Propositions avec #numérique (2)" in body
    assert "Fibre dans chaque canton" in body and "Médiation" in body
    assert "vélos" not in body
    assert f"https://matrix.to/#/{room_id}/{said}" in body
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert listing["content"]["m.mentions"] == {}

    everything = await ask(member, bot, room_id, "!proposals")
    body = everything["content"]["body"]
    assert "(3)" in body
    assert body.index("vélos") < body.index("Médiation") < body.index("Fibre")  # newest first


async def test_proposals_supports_edit_and_redaction(bot_room, make_person):
    bot, organiser, room_id = bot_room
    member = await make_person("member")
    await organiser.invite(room_id, member.user_id)
    await member.join(room_id)

    said = await member.send_text(room_id, "Des bancs sur la place #proposition #urbanisme")
    await member.wait_for(room_id, reaction_to(said, ACK, sender=bot.user_id))

    await member.react(room_id, said, "👍")  # the author's own: ignored
    first = await organiser.react(room_id, said, "👍")
    second = await organiser.react(room_id, said, "👍\ufe0f")  # same person, FE0F variant
    listing = await ask(organiser, bot, room_id, "!propositions #urbanisme")
    assert "👍 1 ·" in listing["content"]["body"]

    star = await organiser.react(room_id, said, "⭐")
    listing = await ask(organiser, bot, room_id, "!propositions")
    assert "retenue" in listing["content"]["body"]

    await organiser.redact(room_id, first)
    listing = await ask(organiser, bot, room_id, "!propositions")
    assert "👍 1 ·" in listing["content"]["body"]  # the FE0F 👍 still stands
    await organiser.redact(room_id, second)
    await organiser.redact(room_id, star)
    listing = await ask(organiser, bot, room_id, "!propositions")
    assert "👍 0 ·" in listing["content"]["body"]
    assert "en discussion" in listing["content"]["body"]

    await member.edit(room_id, said, "Des bancs en bois sur la place #mobilier")
    listing = await ask(organiser, bot, room_id, "!propositions #mobilier")
    assert "Des bancs en bois sur la place" in listing["content"]["body"]
    listing = await ask(organiser, bot, room_id, "!propositions #urbanisme")
    assert "Aucune proposition avec #urbanisme" in listing["content"]["body"]

    await member.redact(room_id, said)
    listing = await ask(organiser, bot, room_id, "!propositions")
    assert "Aucune proposition dans ce salon" in listing["content"]["body"]
    assert stored_proposals(bot.directory) == []


async def test_proposals_bad_input_is_refused_and_nothing_stored(bot_room):
    bot, organiser, room_id = bot_room

    empty = await ask(organiser, bot, room_id, "!proposition #numérique")
    assert "a besoin de mots" in empty["content"]["body"]
    passive_empty = await ask(organiser, bot, room_id, "#proposition #ess")
    assert "a besoin de mots" in passive_empty["content"]["body"]
    too_long = await ask(organiser, bot, room_id, TOO_LONG)
    assert "au plus 2000 caractères" in too_long["content"]["body"]

    kept = await organiser.send_text(room_id, "Un jardin partagé #proposition")
    await organiser.wait_for(room_id, reaction_to(kept, ACK, sender=bot.user_id))
    duplicate = await ask(organiser, bot, room_id, "!proposition un jardin  partagé")
    assert "déjà fait cette proposition" in duplicate["content"]["body"]

    assert stored_proposals(bot.directory) == [(kept, "Un jardin partagé #proposition")]


async def test_proposals_sent_while_bot_was_stopped_are_captured_after_restart(bot_room):
    bot, organiser, room_id = bot_room
    await bot.stop()
    said = await organiser.send_text(room_id, "Pendant la panne : un fablab #proposition #fablab")
    bot.start()
    await organiser.wait_for(room_id, reaction_to(said, ACK, sender=bot.user_id), timeout=60)
    listing = await ask(organiser, bot, room_id, "!propositions #FabLab")
    assert "un fablab" in listing["content"]["body"]
