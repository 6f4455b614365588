"""The weekly digest against a real Synapse and the real bot process: preview for everyone,
publication by organisers only, once per room and week (even after SIGKILL), the shared digest
room (with a room's digest posted after it following as an addition), the week's files, and a
lively week whose every proposal is named in the room and shared digests."""

from __future__ import annotations

import json
import re
import sqlite3

from conftest import joined
from matrix_people import Person, reply_to, text

from handlers.shared.text import message_link

EVENT_LIMIT = 64 * 1024  # what Matrix allows an event; the content must stay under it


def notice(sender: str, contains: str):
    return text(sender=sender, contains=contains, msgtype="m.notice")


async def all_parts(
    person: Person, room_id: str, sender: str, title: str, after: str | None = None
) -> list:
    """Every message of a digest (posted after ``after``): the first one, and when its title
    says "(1/N)", the N - 1 that follow."""
    first = await person.wait_for(room_id, notice(sender, title), after=after, timeout=60)
    label = re.search(r"\(1/(\d+)\)", first["content"]["body"].splitlines()[0])
    parts = [first]
    for index in range(2, int(label.group(1)) + 1 if label else 2):

        def part(event, index=index) -> bool:
            return notice(sender, title)(event) and f"({index}/" in event["content"]["body"]

        parts.append(await person.wait_for(room_id, part, after=after, timeout=60))
    return parts


async def test_digest_preview_publish_shared_and_no_duplicate(bot_room, make_person):
    bot, organiser, room_id = bot_room
    member = await make_person("membre")
    await organiser.invite(room_id, member.user_id)
    await member.join(room_id)

    shared = await organiser.create_room("Organisation", invite=[bot.user_id])
    await organiser.wait_for(shared, joined(bot.user_id), timeout=30)
    asked = await organiser.send_text(shared, "!réglages résumé off")
    await organiser.wait_for(shared, notice(bot.user_id, "résumé"), after=asked, timeout=30)
    asked = await organiser.send_text(room_id, f"!réglages salon-résumé {shared}")
    await organiser.wait_for(room_id, notice(bot.user_id, "salon-résumé"), after=asked)

    asked = await member.send_text(
        room_id, "!proposition Un tiers-lieu par canton <script>alert(1)</script> #tierslieux"
    )
    await member.wait_for(room_id, notice(bot.user_id, "P"), after=asked)

    asked = await member.send_text(room_id, "!résumé")
    preview = await member.wait_for(room_id, notice(bot.user_id, "Aperçu du résumé"), after=asked)
    assert "#tierslieux" in preview["content"]["body"]
    assert "Un tiers-lieu par canton" in preview["content"]["body"]

    asked = await member.send_text(room_id, "!résumé publier")
    refusal = await member.wait_for(room_id, notice(bot.user_id, "organisateurs"), after=asked)
    assert "Seuls les organisateurs" in refusal["content"]["body"]

    asked = await organiser.send_text(room_id, "!résumé publier")
    posted = await organiser.wait_for(
        room_id, notice(bot.user_id, "Résumé hebdomadaire — semaine"), after=asked
    )
    content = posted["content"]
    assert content["m.mentions"] == {}
    assert "<script>" not in content["formatted_body"]
    assert "&lt;script&gt;" in content["formatted_body"]
    assert "https://matrix.to/#/" in content["formatted_body"]
    week = re.search(r"semaine (\d{4}-W\d{2})", content["body"]).group(1)

    gathered = await organiser.wait_for(shared, notice(bot.user_id, "Résumé commun"), timeout=30)
    assert week in gathered["content"]["body"]
    assert "Groupe de travail" in gathered["content"]["body"]  # table of contents by room name
    assert "#tierslieux" in gathered["content"]["body"]
    folder = bot.directory / "data" / "digests"
    assert "#tierslieux" in (folder / f"{week}.md").read_text(encoding="utf-8")
    page = (folder / f"{week}.html").read_text(encoding="utf-8")
    assert "<svg" in page and "&lt;script&gt;" in page and "<script" not in page

    asked = await organiser.send_text(room_id, "!résumé publier")
    again = await organiser.wait_for(room_id, notice(bot.user_id, "déjà été publié"), after=asked)
    assert week in again["content"]["body"]

    await bot.kill()
    bot.start()
    asked = await organiser.send_text(room_id, "!digest publish")
    await organiser.wait_for(
        room_id, notice(bot.user_id, "déjà été publié"), after=asked, timeout=45
    )
    await organiser.assert_no_event(
        room_id, notice(bot.user_id, "Résumé hebdomadaire"), after=posted["event_id"]
    )
    await organiser.assert_no_event(
        shared, notice(bot.user_id, "Résumé commun"), after=gathered["event_id"]
    )
    published = [e for e in organiser.events(room_id) if notice(bot.user_id, "Résumé hebdo")(e)]
    assert len(published) == 1

    database = sqlite3.connect(f"file:{bot.directory / 'data' / 'concerto.db'}?mode=ro", uri=True)
    try:
        runs = database.execute("SELECT room_id, week, trigger FROM digest_run").fetchall()
        tasks = database.execute(
            "SELECT key, status FROM scheduled_task WHERE kind = 'digest' AND status = 'pending'"
        ).fetchall()
    finally:
        database.close()
    assert runs == [(room_id, week, "manual")]
    # the room's next digest is scheduled for the following week; the shared room's is off
    assert len(tasks) == 1 and tasks[0][0].startswith(f"digest:{room_id}:")
    assert not tasks[0][0].endswith(week)


async def test_digest_posted_after_the_shared_digest_follows_it_once(bot_room):
    bot, organiser, first = bot_room
    second = await organiser.create_room("Groupe mobilité", invite=[bot.user_id])
    shared = await organiser.create_room("Organisation", invite=[bot.user_id])
    for room_id in (second, shared):
        await organiser.wait_for(room_id, joined(bot.user_id), timeout=30)
    # digests published by hand only, so both rooms' digests are those of this ISO week
    for room_id in (first, second, shared):
        asked = await organiser.send_text(room_id, "!réglages résumé off")
        await organiser.wait_for(room_id, notice(bot.user_id, "résumé"), after=asked, timeout=30)
    for room_id, proposal in ((first, "Un tiers-lieu #tierslieux"), (second, "Des bus #mobilité")):
        asked = await organiser.send_text(room_id, f"!réglages salon-résumé {shared}")
        await organiser.wait_for(room_id, notice(bot.user_id, "salon-résumé"), after=asked)
        asked = await organiser.send_text(room_id, f"!proposition {proposal}")
        await organiser.wait_for(room_id, notice(bot.user_id, "P"), after=asked)

    asked = await organiser.send_text(first, "!résumé publier")
    await organiser.wait_for(first, notice(bot.user_id, "Résumé hebdomadaire"), after=asked)
    gathered = await organiser.wait_for(shared, notice(bot.user_id, "Résumé commun"), timeout=30)
    assert "Groupe de travail" in gathered["content"]["body"]
    assert "Groupe mobilité" not in gathered["content"]["body"]

    asked = await organiser.send_text(second, "!résumé publier")
    await organiser.wait_for(second, notice(bot.user_id, "Résumé hebdomadaire"), after=asked)
    addition = await organiser.wait_for(
        shared, notice(bot.user_id, "(complément)"), after=gathered["event_id"], timeout=30
    )
    body = addition["content"]["body"]
    assert "Groupe mobilité" in body and "#mobilité" in body
    assert "#tierslieux" not in body and "Sommaire" not in body
    week = re.search(r"semaine (\d{4}-W\d{2})", body).group(1)
    markdown = (bot.directory / "data" / "digests" / f"{week}.md").read_text(encoding="utf-8")
    assert "#tierslieux" in markdown and "#mobilité" in markdown

    await bot.kill()
    bot.start()
    asked = await organiser.send_text(second, "!digest publish")
    await organiser.wait_for(
        second, notice(bot.user_id, "déjà été publié"), after=asked, timeout=45
    )
    await organiser.assert_no_event(
        shared, notice(bot.user_id, "Résumé commun"), after=addition["event_id"]
    )


def long_proposal(index: int) -> str:
    """A proposal of about 300 characters, each different from its first words on."""
    return (
        f"Idée {index:02d} pour le numérique : un point d'accès accompagné dans la commune "
        f"numéro {index}, avec des permanences le samedi matin, des ateliers pour les démarches "
        "en ligne, du matériel prêté aux familles, et des bénévoles formés chaque "
        f"trimestre pour bien accueillir (fin de la proposition {index:02d}) #numérique"
    )


async def test_digest_of_a_lively_week_names_every_proposal(bot_room, make_person):
    bot, organiser, room_id = bot_room
    member = await make_person("membre")
    await organiser.invite(room_id, member.user_id)
    await member.join(room_id)
    shared = await organiser.create_room("Organisation", invite=[bot.user_id])
    await organiser.wait_for(shared, joined(bot.user_id), timeout=30)
    asked = await organiser.send_text(shared, "!réglages résumé off")
    await organiser.wait_for(shared, notice(bot.user_id, "résumé"), after=asked, timeout=30)
    asked = await organiser.send_text(room_id, f"!réglages salon-résumé {shared}")
    await organiser.wait_for(room_id, notice(bot.user_id, "salon-résumé"), after=asked)

    # one person posts thirty long proposals under one tag
    sent = [
        await member.send_text(room_id, f"!proposition {long_proposal(i)}") for i in range(1, 31)
    ]
    for event_id in sent:
        answer = await member.wait_for(room_id, reply_to(bot.user_id, event_id), timeout=60)
        assert "enregistrée" in answer["content"]["body"]
    links = [message_link(room_id, event_id) for event_id in sent]

    asked = await organiser.send_text(room_id, "!résumé publier")
    posted = await all_parts(organiser, room_id, bot.user_id, "Résumé hebdomadaire", asked)
    gathered = await all_parts(organiser, shared, bot.user_id, "Résumé commun")

    for messages in (posted, gathered):
        body = "\n".join(m["content"]["body"] for m in messages)
        html = "\n".join(m["content"]["formatted_body"] for m in messages)
        assert "#numérique — 30 propositions" in body
        for index, link in enumerate(links, 1):
            assert f"Idée {index:02d} pour le numérique" in body
            assert link in body and f'href="{link}"' in html
        for pointer in ("de plus", "autres :", "!propositions"):  # no "… and N more" at all
            assert pointer not in body and pointer not in html
    for room in (room_id, shared):
        for event in organiser.events(room):
            if event.get("sender") == bot.user_id:
                assert len(json.dumps(event["content"], ensure_ascii=False).encode()) < EVENT_LIMIT

    week = re.search(r"semaine (\d{4}-W\d{2})", posted[0]["content"]["body"]).group(1)
    markdown = (bot.directory / "data" / "digests" / f"{week}.md").read_text(encoding="utf-8")
    for index, link in enumerate(links, 1):  # the week's file keeps each whole text
        assert f"(fin de la proposition {index:02d})" in markdown and link in markdown
