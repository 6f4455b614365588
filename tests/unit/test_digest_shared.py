"""The shared digest through the real router, outbox and timers (recording sender, frozen
clock): it goes out when every room is in, or at its time without the rooms that come later
(named, then added when they post), waits for rooms overdue after downtime, and is sent
exactly once even when a transaction fails half-way."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from harness import ROOM, Harness, RecordingSender
from sqlmodel import select

from bot.runtime.clock import FrozenClock
from bot.runtime.config import (
    BotConfig,
    Config,
    LoggingConfig,
    MatrixConfig,
    PrivacyConfig,
    StorageConfig,
    validate,
)
from bot.runtime.messages import MAX_EVENT_BYTES
from handlers.digest.shared import SharedDigest
from handlers.shared.text import message_link
from storage.models import ScheduledTask

ORGANISER = "@org:test"
MEMBER = "@bob:test"
LATE = "!late:test"
SHARED = "!shared:test"
# Friday 19 June 2026, 10:00 in Paris: the rooms' next digests are those of 2026-W25
NOW = datetime(2026, 6, 19, 8, 0, tzinfo=UTC)
MONDAY_9 = datetime(2026, 6, 22, 7, 0, tzinfo=UTC)  # the default room digests of 2026-W25
MONDAY_NOON = datetime(2026, 6, 22, 10, 0, tzinfo=UTC)  # the shared digest stops waiting
THURSDAY_9 = datetime(2026, 6, 25, 7, 0, tzinfo=UTC)  # the late room's digest of 2026-W25
NAMES = {ROOM: "Groupe numérique", LATE: "<b>Groupe</b> tardif", SHARED: "Organisation"}


@dataclass
class NamedRooms(RecordingSender):
    """A homeserver that knows the rooms' names."""

    async def room_name(self, room_id: str) -> str | None:
        return NAMES.get(room_id)


@pytest.fixture
def database(sqlite_database):
    return sqlite_database


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 100}


@pytest.fixture
def sender() -> NamedRooms:
    return NamedRooms()


async def say(bot: Harness, room_id: str, sender: str, body: str) -> None:
    event = bot.message(sender, body)
    await bot.deliver(event, room_id=room_id)


async def at(bot: Harness, moment: datetime) -> list[dict[str, Any]]:
    """Time moves to ``moment``: due tasks fire, their messages are sent; returns the sends."""
    bot.clock.set(moment)
    before = len(bot.sender.sent)
    await bot.timers.fire_due()
    await bot.outbox.send_due()
    return bot.sender.sent[before:]


def shared(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s["content"] for s in sent if s["room_id"] == SHARED]


async def two_rooms(bot: Harness, *, late_schedule: str | None = "jeudi 9h") -> None:
    """Two working groups gathered in one shared room; the second one may post later."""
    for room_id, text in ((ROOM, "Des bus le dimanche #mobilité"), (LATE, "Un fablab #numérique")):
        await say(bot, room_id, MEMBER, "!résumé")  # the room's first command sets up its task
        await say(bot, room_id, ORGANISER, f"!réglages salon-résumé {SHARED}")
        await say(bot, room_id, MEMBER, f"!proposition {text}")
    if late_schedule:
        await say(bot, LATE, ORGANISER, f"!réglages résumé {late_schedule}")


async def test_digest_shared_goes_out_at_its_time_and_the_late_room_follows(bot: Harness):
    await two_rooms(bot)
    with bot.database.session() as session:
        rows = session.exec(select(ScheduledTask).where(ScheduledTask.kind == "digest_shared"))
        due = {row.key: (row.status, row.due_at) for row in rows}
    assert due == {"digest_shared:2026-W25": ("pending", MONDAY_NOON)}

    # Monday 09:00: the first room posts; the shared digest still waits for the late one
    assert shared(await at(bot, MONDAY_9)) == []
    # Monday 12:00: the shared digest goes out with what is in, naming the room to come
    gathered = shared(await at(bot, MONDAY_NOON))
    assert len(gathered) == 1
    body, html = gathered[0]["body"], gathered[0]["formatted_body"]
    assert body.startswith("Résumé commun — semaine 2026-W25")
    assert "1. Groupe numérique — 1 nouvelle proposition" in body
    assert "#mobilité" in body and "#numérique" not in body
    assert "Pas encore inclus (leur résumé arrive plus tard et suivra ici) :" in body
    assert "• <b>Groupe</b> tardif — prévu jeudi 25 juin 2026 à 09:00 (Europe/Paris)" in body
    assert "&lt;b&gt;Groupe&lt;/b&gt; tardif" in html and "<b>Groupe</b>" not in html
    folder = bot.config.data_path / "digests"
    markdown = (folder / "2026-W25.md").read_text(encoding="utf-8")
    assert "Pas encore inclus (leur résumé arrive plus tard) :" in markdown
    assert "&lt;b&gt;Groupe&lt;/b&gt; tardif — prévu jeudi 25 juin 2026" in markdown

    # Thursday 09:00: the late room posts; its digest follows alone in the shared room
    sent = await at(bot, THURSDAY_9)
    assert [s["room_id"] for s in sent] == [LATE, SHARED]
    addition = shared(sent)[0]["body"]
    assert addition.startswith("Résumé commun — semaine 2026-W25 (complément)")
    assert "== <b>Groupe</b> tardif ==" in addition and "#numérique" in addition
    assert "#mobilité" not in addition and "Sommaire" not in addition
    markdown = (folder / "2026-W25.md").read_text(encoding="utf-8")
    assert "Pas encore inclus" not in markdown and "#numérique" in markdown

    # nothing is gathered twice, whatever fires later
    assert shared(await at(bot, datetime(2026, 6, 29, 8, 0, tzinfo=UTC))) == []


async def test_digest_shared_addition_names_every_proposal_of_a_lively_room(bot: Harness):
    await two_rooms(bot)
    links = []
    for index in range(1, 41):  # a late room's lively week: forty long proposals in one theme
        body = (
            f"Idée {index:02d} : un atelier de réparation ouvert chaque samedi dans le quartier "
            f"{index}, avec des outils prêtés, des bénévoles formés et un café pour se "
            f"rencontrer (fin de la proposition {index:02d}) #proposition #numérique"
        )
        event = bot.message(MEMBER, body)
        await bot.deliver(event, room_id=LATE)
        links.append(message_link(LATE, event["event_id"]))
    await at(bot, MONDAY_9)
    await at(bot, MONDAY_NOON)
    addition = shared(await at(bot, THURSDAY_9))
    assert len(addition) == 1
    body, html = addition[0]["body"], addition[0]["formatted_body"]
    assert body.startswith("Résumé commun — semaine 2026-W25 (complément)")
    assert "#numérique — 41 propositions" in body  # with the room's own first one
    for index, link in enumerate(links, 1):  # compact lines: opening words, author, link
        assert f"Idée {index:02d} : un atelier de réparation" in body
        assert link in body and f'href="{link}"' in html
    assert "(fin de la proposition" not in body
    assert "de plus" not in body and "!propositions" not in body
    assert len(json.dumps(addition[0], ensure_ascii=False).encode()) <= MAX_EVENT_BYTES


async def test_digest_shared_goes_out_at_once_when_every_room_is_in(bot: Harness):
    await two_rooms(bot, late_schedule=None)
    gathered = shared(await at(bot, MONDAY_9))
    assert len(gathered) == 1
    body = gathered[0]["body"]
    assert "1. Groupe numérique" in body and "2. <b>Groupe</b> tardif" in body
    assert "Pas encore inclus" not in body
    assert shared(await at(bot, MONDAY_NOON)) == []  # the wait being over adds nothing


async def test_digest_shared_waits_for_rooms_overdue_after_downtime(bot: Harness):
    await two_rooms(bot, late_schedule="lundi 11h")
    # the bot was down from Sunday to Monday 15:00: both rooms and the shared digest are due
    sent = await at(bot, datetime(2026, 6, 22, 13, 0, tzinfo=UTC))
    assert sorted(s["room_id"] for s in sent) == [LATE, ROOM, SHARED]
    body = shared(sent)[0]["body"]
    assert "1. Groupe numérique" in body and "2. <b>Groupe</b> tardif" in body
    assert "Pas encore inclus" not in body


async def test_digest_shared_is_sent_once_when_its_transaction_fails(
    bot: Harness, monkeypatch: pytest.MonkeyPatch
):
    await two_rooms(bot)
    await at(bot, MONDAY_9)
    real_enqueue = SharedDigest._enqueue
    calls = 0

    def crash_after_queueing(self: SharedDigest, *args: Any) -> None:
        nonlocal calls
        calls += 1
        real_enqueue(self, *args)
        raise RuntimeError("the process dies before its transaction commits")

    monkeypatch.setattr(SharedDigest, "_enqueue", crash_after_queueing)
    assert shared(await at(bot, MONDAY_NOON)) == []  # rolled back: nothing queued, still due
    monkeypatch.setattr(SharedDigest, "_enqueue", real_enqueue)
    assert len(shared(await at(bot, MONDAY_NOON))) == 1
    assert calls == 1

    monkeypatch.setattr(SharedDigest, "_enqueue", crash_after_queueing)
    assert await at(bot, THURSDAY_9) == []  # the late room's digest and its addition: neither
    monkeypatch.setattr(SharedDigest, "_enqueue", real_enqueue)
    sent = await at(bot, THURSDAY_9)
    assert [s["room_id"] for s in sent] == [LATE, SHARED]
    assert shared(await at(bot, THURSDAY_9)) == []


async def test_digest_shared_task_is_set_up_at_start_and_never_sends_twice(bot: Harness):
    await two_rooms(bot)
    await at(bot, MONDAY_9)
    with bot.database.session() as session:  # a week begun by a version without the task
        task = session.exec(
            select(ScheduledTask).where(ScheduledTask.key == "digest_shared:2026-W25")
        )
        session.delete(task.one())
    restarted = bot.restart()  # as at start: every room's digest task
    assert len(shared(await at(restarted, MONDAY_NOON))) == 1
    await at(restarted, THURSDAY_9)
    again = restarted.restart()
    assert shared(await at(again, datetime(2026, 6, 29, 8, 0, tzinfo=UTC))) == []
    assert len(shared(restarted.sender.sent)) == 2  # the shared digest and the addition


def test_digest_shared_wait_is_checked_in_the_configuration():
    def problems(hours: int) -> list[str]:
        config = Config(
            matrix=MatrixConfig(homeserver="https://matrix.example.org", user_id="@c:example.org"),
            bot=BotConfig(shared_digest_wait_hours=hours),
            storage=StorageConfig(),
            privacy=PrivacyConfig(),
            logging=LoggingConfig(),
        )
        return [problem.key for problem in validate(config)]

    assert problems(0) == [] and problems(84) == []
    assert problems(-1) == problems(85) == ["bot.shared_digest_wait_hours"]
