"""`!résumé` through the real router, intake, outbox and timers (recording sender, frozen clock):
preview, publish once per week, the weekly task, settings changes, shared digest and files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from harness import ROOM, Harness

from bot.runtime.clock import FrozenClock
from bot.runtime.messages import MAX_EVENT_BYTES
from handlers.digest.messages import RoomMessage, SharedMessage, content_size
from handlers.digest.model import NewProposal, ProposalLine, RoomDigest, group_by_tag
from handlers.shared.text import message_link
from storage.digests import DigestRepository
from storage.models import ScheduledTask
from storage.polls import PollRepository

ORGANISER = "@org:test"
MEMBER = "@bob:test"
SHARED = "!shared:test"
# Wednesday 17 June 2026, 10:00 in Paris: the coming digest is Monday 22 June 09:00 (2026-W25)
NOW = datetime(2026, 6, 17, 8, 0, tzinfo=UTC)


@pytest.fixture
def database(sqlite_database):
    return sqlite_database


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 100}


def tasks(bot: Harness) -> dict[str, tuple[str, datetime]]:
    with bot.database.session() as session:
        rows = DigestRepository(session).tasks(ROOM)
        return {row.key: (row.status, row.due_at) for row in rows}


def room_messages(sent: list[dict], room: str = ROOM) -> list[dict]:
    return [s["content"] for s in sent if s["room_id"] == room and s["type"] == "m.room.message"]


async def test_digest_preview_lists_proposals_by_tag_for_everyone(bot: Harness):
    await bot.say(MEMBER, "!proposition Un tiers-lieu par canton #tierslieux #ESS")
    await bot.say(ORGANISER, "!proposition Former les bénévoles au numérique #numérique")
    replies = await bot.say(MEMBER, "!résumé")
    assert len(replies) == 1
    body = replies[0]
    assert "Aperçu du résumé hebdomadaire — semaine 2026-W25" in body
    assert "#tierslieux" in body and "#numérique" in body and "#ESS" in body
    assert "P1 Un tiers-lieu par canton" in body and "Bob" in body
    assert "https://matrix.to/#/" in body
    # the preview is a reply, nothing is recorded as published
    with bot.database.session() as session:
        assert DigestRepository(session).get(ROOM, "2026-W25") is None


async def test_digest_publish_posts_once_per_week_and_refuses_members(bot: Harness):
    await bot.say(MEMBER, "!proposition Un jardin partagé #écologie")
    refused = await bot.say(MEMBER, "!résumé publier")
    assert "Seuls les organisateurs" in refused[0]

    before = len(bot.sender.sent)
    await bot.say(ORGANISER, "!digest publish")
    posted = room_messages(bot.sender.sent[before:])
    assert len(posted) == 1
    content = posted[0]
    assert content["msgtype"] == "m.notice" and content["m.mentions"] == {}
    assert "m.relates_to" not in content
    assert content["body"].startswith("Résumé hebdomadaire — semaine 2026-W25")
    assert "#écologie" in content["body"]
    assert "<h4>Nouvelles propositions par thème</h4>" in content["formatted_body"]

    again = await bot.say(ORGANISER, "!résumé publier")
    assert "déjà été publié" in again[0]
    assert "2026-W25" in again[0]
    # the week's task moved to the following week
    state = tasks(bot)
    assert state["digest:!room:test:2026-W26"][0] == "pending"
    assert state["digest:!room:test:2026-W26"][1] == datetime(2026, 6, 29, 7, 0, tzinfo=UTC)
    assert state.get("digest:!room:test:2026-W25", ("cancelled",))[0] == "cancelled"


async def test_a_proposal_sent_just_before_the_digest_but_read_after_is_in_it(bot: Harness):
    await bot.say(MEMBER, "!résumé")
    due = datetime(2026, 6, 22, 7, 0, tzinfo=UTC)
    bot.clock.set(due - timedelta(seconds=1))
    last_second = bot.message(MEMBER, "!proposition Un marché de nuit #culture")
    bot.clock.set(due + timedelta(seconds=1))  # the bot was busy: not read by the due time
    read_until: list[datetime] = []

    async def sync_catch_up(moment: datetime, _limit: float) -> bool:
        read_until.append(moment)
        await bot.deliver(last_second)  # what the homeserver held at the due time
        return True

    bot.timers.catch_up = sync_catch_up  # the sync loop's, in the running bot
    before = len(bot.sender.sent)
    assert await bot.timers.fire_due() == 1
    await bot.outbox.send_due()

    assert read_until == [due]
    [posted] = [
        message
        for message in room_messages(bot.sender.sent[before:])
        if message["body"].startswith("Résumé hebdomadaire")
    ]
    assert "Un marché de nuit" in posted["body"] and "#culture" in posted["body"]


async def test_digest_task_fires_posts_and_schedules_the_next_week(bot: Harness):
    await bot.say(MEMBER, "!résumé")  # the room's first command sets up its task
    assert tasks(bot)["digest:!room:test:2026-W25"] == (
        "pending",
        datetime(2026, 6, 22, 7, 0, tzinfo=UTC),
    )
    await bot.say(MEMBER, "!proposition Des bus le dimanche #mobilité")
    bot.clock.set(datetime(2026, 6, 22, 7, 0, tzinfo=UTC))
    assert await bot.timers.fire_due() == 1
    before = len(bot.sender.sent)
    await bot.outbox.send_due()
    posted = room_messages(bot.sender.sent[before:])
    assert len(posted) == 1 and "#mobilité" in posted[0]["body"]
    assert "Du lundi 15 juin 2026 à 09:00" in posted[0]["body"]
    state = tasks(bot)
    assert state["digest:!room:test:2026-W25"][0] == "done"
    assert state["digest:!room:test:2026-W26"] == (
        "pending",
        datetime(2026, 6, 29, 7, 0, tzinfo=UTC),
    )
    # publishing by hand now targets next week; firing the old task again posts nothing
    with bot.database.session() as session:
        task = session.get(ScheduledTask, 1)
        assert task is not None
        DigestRepository(session).revive_task(task, task.due_at)
    await bot.timers.fire_due()
    await bot.outbox.send_due()
    assert len(room_messages(bot.sender.sent[before:])) == 1


async def test_digest_empty_week_says_so_in_one_line(bot: Harness):
    bot.clock.set(datetime(2026, 6, 22, 7, 0, tzinfo=UTC))
    await bot.say(ORGANISER, "!résumé publier")
    body = room_messages(bot.sender.sent)[-1]["body"]
    assert body.splitlines()[-1] == (
        "Semaine calme ici : aucune nouvelle proposition, décision ni sondage, et rien de prévu."
    )


async def test_digest_schedule_follows_settings_and_off_cancels(bot: Harness):
    await bot.say(MEMBER, "!résumé")
    await bot.say(ORGANISER, "!réglages résumé vendredi 17h")
    state = {k: v for k, v in tasks(bot).items() if v[0] == "pending"}
    # Friday 19 June 17:00 Paris = 15:00 UTC, the digest of 2026-W25
    assert state == {
        "digest:!room:test:2026-W25": ("pending", datetime(2026, 6, 19, 15, 0, tzinfo=UTC))
    }
    await bot.say(ORGANISER, "!réglages fuseau America/Cayenne")
    state = {k: v for k, v in tasks(bot).items() if v[0] == "pending"}
    assert state == {
        "digest:!room:test:2026-W25": ("pending", datetime(2026, 6, 19, 20, 0, tzinfo=UTC))
    }
    await bot.say(ORGANISER, "!réglages résumé off")
    assert [v for v in tasks(bot).values() if v[0] == "pending"] == []
    await bot.say(ORGANISER, "!réglages résumé lundi 9h")
    await bot.say(ORGANISER, "!réglages fuseau Europe/Paris")
    state = {k: v for k, v in tasks(bot).items() if v[0] == "pending"}
    assert state == {
        "digest:!room:test:2026-W25": ("pending", datetime(2026, 6, 22, 7, 0, tzinfo=UTC))
    }


async def test_digest_shared_room_and_files(bot: Harness):
    await bot.say(ORGANISER, "!réglages salon-résumé !shared:test")
    await bot.say(
        MEMBER, "!proposition Ouvrir le fablab le samedi <script>alert(1)</script> #fablab"
    )
    before = len(bot.sender.sent)
    await bot.say(ORGANISER, "!résumé publier")
    shared = room_messages(bot.sender.sent[before:], SHARED)
    assert len(shared) == 1
    assert shared[0]["body"].startswith("Résumé commun — semaine 2026-W25")
    assert "Sommaire" in shared[0]["body"]
    assert "<script>" not in shared[0]["formatted_body"]
    folder = bot.config.data_path / "digests"
    markdown = (folder / "2026-W25.md").read_text(encoding="utf-8")
    page = (folder / "2026-W25.html").read_text(encoding="utf-8")
    assert markdown.startswith("# Résumé de la semaine 2026-W25")
    assert "#fablab" in markdown and "&lt;script&gt;" in markdown
    assert '<meta name="viewport"' in page and "<svg" in page and "<script" not in page
    assert "&lt;script&gt;" in page
    # a second publication is refused and the shared message is not posted again
    before = len(bot.sender.sent)
    await bot.say(ORGANISER, "!résumé publier")
    assert room_messages(bot.sender.sent[before:], SHARED) == []


async def test_digest_large_week_is_split_into_labelled_parts(bot: Harness):
    long_text = "Une proposition détaillée " + "avec beaucoup de mots " * 12
    for index in range(240):  # a lively week: eight people, thirty proposals each
        author = f"@participant{index % 8}:test"
        await bot.say(author, f"!proposition {long_text} numéro {index} #theme{index % 30}")
    before = len(bot.sender.sent)
    await bot.say(ORGANISER, "!résumé publier")
    posted = room_messages(bot.sender.sent[before:])
    assert len(posted) > 1
    count = len(posted)
    for index, content in enumerate(posted, 1):
        assert len(json.dumps(content, ensure_ascii=False).encode()) <= MAX_EVENT_BYTES
        assert f"({index}/{count})" in content["body"].splitlines()[0]
    everything = "\n".join(c["body"] for c in posted)
    for theme in range(30):
        assert f"#theme{theme} " in everything
    with bot.database.session() as session:
        run = DigestRepository(session).get(ROOM, "2026-W25")
        assert run is not None and run.parts == count


def lively_proposal(index: int) -> str:
    """About 300 characters, each different from its first words to its last."""
    return (
        f"Idée {index:02d} pour le numérique : ouvrir un point d'accès accompagné dans la "
        f"commune numéro {index}, avec des permanences le samedi matin, des ateliers pour "
        "les démarches en ligne, du matériel reconditionné prêté aux familles et des "
        f"bénévoles formés chaque trimestre (fin de la proposition {index:02d}) "
        "#proposition #numérique"
    )


async def post_proposals(bot: Harness, count: int) -> list[str]:
    """``count`` long proposals of one member under #numérique; their messages' links."""
    links = []
    for index in range(1, count + 1):
        content = {"msgtype": "m.text", "body": lively_proposal(index)}
        event = bot.event(MEMBER, "m.room.message", content)
        await bot.deliver(event)
        links.append(message_link(ROOM, event["event_id"]))
    return links


def assert_every_proposal_named(messages: list[dict], links: list[str]) -> None:
    """Each proposal's opening words and link are in the messages, within the size limit,
    and nothing is left to "… and N more"."""
    body = "\n".join(m["body"] for m in messages)
    html = "\n".join(m["formatted_body"] for m in messages)
    for index, link in enumerate(links, 1):
        assert f"Idée {index:02d} pour le numérique" in body
        assert link in body and f'href="{link}"' in html
    assert "de plus" not in body and "autres :" not in body and "!propositions" not in body
    for content in messages:
        assert len(json.dumps(content, ensure_ascii=False).encode()) <= MAX_EVENT_BYTES


async def test_digest_lively_theme_names_every_proposal_in_compact_lines(bot: Harness):
    await bot.say(ORGANISER, f"!réglages salon-résumé {SHARED}")
    links = await post_proposals(bot, 30)
    before = len(bot.sender.sent)
    await bot.say(ORGANISER, "!résumé publier")
    posted = room_messages(bot.sender.sent[before:])
    shared = room_messages(bot.sender.sent[before:], SHARED)
    assert len(posted) == 1 and len(shared) == 1  # compact lines: 30 fit in one message
    assert "#numérique — 30 propositions" in posted[0]["body"]
    assert_every_proposal_named(posted, links)
    assert_every_proposal_named(shared, links)
    for content in (*posted, *shared):  # compact: opening words, not the whole text
        assert (
            "Idée 07 pour le numérique : ouvrir un point d'accès accompagné dans la commune…"
            in (content["body"])
        )
        assert "(fin de la proposition" not in content["body"]
        assert "(fin de la proposition" not in content["formatted_body"]
    # the week's files keep every proposal's text
    folder = bot.config.data_path / "digests"
    markdown = (folder / "2026-W25.md").read_text(encoding="utf-8")
    page = (folder / "2026-W25.html").read_text(encoding="utf-8")
    for index, link in enumerate(links, 1):
        assert f"(fin de la proposition {index:02d})" in markdown and link in markdown
        assert f"(fin de la proposition {index:02d})" in page


async def test_digest_small_theme_keeps_whole_texts(bot: Harness):
    await post_proposals(bot, 3)
    replies = await bot.say(MEMBER, "!résumé")
    assert len(replies) == 1
    assert all(f"(fin de la proposition {index:02d})" in replies[0] for index in (1, 2, 3))


async def test_digest_huge_theme_is_split_across_labelled_messages(bot: Harness):
    await bot.say(ORGANISER, f"!réglages salon-résumé {SHARED}")
    links = await post_proposals(bot, 360)
    before = len(bot.sender.sent)
    await bot.say(ORGANISER, "!résumé publier")
    for room in (ROOM, SHARED):
        messages = room_messages(bot.sender.sent[before:], room)
        assert len(messages) > 2
        assert_every_proposal_named(messages, links)
        for index, content in enumerate(messages, 1):
            first_line = content["body"].splitlines()[0]
            assert f"({index}/{len(messages)})" in first_line
            if index > 1:  # the theme goes on, and says so
                assert "#numérique — 360 propositions (suite)" in content["body"]
        # as few messages as can be: each is filled before the next one starts
        for content in messages[:-1]:
            assert len(json.dumps(content, ensure_ascii=False).encode()) > 0.9 * MAX_EVENT_BYTES


def test_digest_parts_past_99_stay_under_the_limit(bot: Harness):
    lines = [
        NewProposal(
            ProposalLine(
                f"P{i}", lively_proposal(i), "Bob", i % 3, f"https://matrix.to/#/!r/$e{i}"
            ),
            ("numerique",) if i % 4 else ("numerique", "ess"),
            NOW,
        )
        for i in range(1, 901)
    ]
    digest = RoomDigest(ROOM, "Groupe", "2026-W25", NOW, NOW, period="lundi|mardi")
    digest.groups = group_by_tag(lines, {"numerique": "numérique", "ess": "ESS"})
    limit = 4000  # a small event size, so that a week runs to more than 99 parts
    for message in (
        RoomMessage(bot.renderer, "fr", digest, limit=limit),
        SharedMessage(bot.renderer, "fr", "2026-W25", [digest], limit=limit),
    ):
        parts = message.parts()
        assert len(parts) > 99
        assert all(content_size(part) <= limit for part in parts)
        assert f"({len(parts)}/{len(parts)})" in parts[-1].body.splitlines()[0]


@pytest.mark.parametrize("language", ["en"])
async def test_digest_in_english_room(bot: Harness):
    await bot.say(MEMBER, "!proposal Free <b>bikes</b> #mobility")
    replies = await bot.say(MEMBER, "!digest")
    assert replies[0].startswith("Preview of the weekly digest — week 2026-W25 (so far)")
    html = bot.sender.sent[-1]["content"]["formatted_body"]
    assert "New proposals by theme" in html and "&lt;b&gt;bikes&lt;/b&gt;" in html


async def test_digest_lists_the_coming_weeks_meetings_of_a_recurring_event(bot: Harness):
    await bot.say(ORGANISER, "!événement Point ; tous les jours ouvrés à 9h ; rappels: aucun")
    await bot.say(ORGANISER, "!annuler E1 le 19 juin")
    body = (await bot.say(MEMBER, "!résumé"))[0]
    for day in ("jeudi 18 juin", "lundi 22 juin", "mardi 23 juin", "mercredi 24 juin"):
        assert f"• E1 Point — {day} 2026 à 09:00 (Europe/Paris) · ✅ 0" in body, body
    assert "vendredi 19 juin" not in body  # cancelled
    assert "jeudi 25 juin" not in body  # beyond the coming week
    assert body.count("Point") == 4


async def test_digest_reports_decisions_with_outcome_and_participation(bot: Harness):
    bot.sender.members[ROOM] = [ORGANISER, MEMBER, "@carol:test", "@dan:test"]
    await bot.say(MEMBER, "!décision On adopte la charte")
    await bot.say(MEMBER, "!sondage Nos priorités ? ; jardin ; vélos ; type: classement")
    with bot.database.session() as session:
        notices = {
            poll.id: poll.notice_event_id for poll in PollRepository(session).list_for_room(ROOM)
        }
    await bot.deliver(bot.reaction(MEMBER, str(notices[1]), "✅"))
    await bot.deliver(bot.reaction("@carol:test", str(notices[1]), "✋"))
    reply = {
        "msgtype": "m.text",
        "body": "2 1",
        "m.relates_to": {"m.in_reply_to": {"event_id": notices[2]}},
    }
    await bot.deliver(bot.event("@dan:test", "m.room.message", reply))
    await bot.say(MEMBER, "!clore S1")
    await bot.say(MEMBER, "!clore S2")
    [body] = await bot.say(MEMBER, "!résumé")
    assert "S1 On adopte la charte — 2 participants (50 % des 4 membres)" in body, body
    assert "Non adoptée : 1 objection maintenue." in body, body
    assert "S2 Nos priorités ? — 1 participant (25 % des 4 membres)" in body, body
    assert "vélos: 1 (100 %) ★" in body, body
