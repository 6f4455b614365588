"""A year of a working group's activity, written into the bot's database as the bot stores it.

Seeding a year of messages through a homeserver takes hours on a small machine; what a year
changes for the bot is what it has accumulated in its own database. This module writes, for
every room, what 52 weeks of a lively working group leave behind (per room and year):

- 156 proposals (3 a week) with 2 tags and 3 supports each;
- 12 events with 8 RSVPs each and 6 deadlines, each with 2 reminders already sent;
- 26 closed polls (one every two weeks) with 12 ballots each;
- 52 weekly digests posted;
- 1,300 messages sent by the bot (25 a week: replies, announcements, reminders, digests), with
  a stored copy of typical size, as the outbox keeps them;
- the events handled during the last 30 days (older ones are purged daily), 50 a week.

Rows go in with the models' own tables (so the types and constraints are the bot's), in bulk.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.engine import Connection

import storage.tables  # noqa: F401  (registers every table)
from storage.agenda_models import AgendaItem, EventRsvp
from storage.db import Database
from storage.digest_models import DigestRun
from storage.models import OutboxMessage, ProcessedEvent, ScheduledTask
from storage.poll_models import Poll, PollBallot
from storage.proposal_models import Proposal, ProposalReaction, ProposalTag

WEEKS = 52
PROPOSALS_PER_WEEK = 3
SUPPORTS_PER_PROPOSAL = 3
EVENTS_PER_YEAR = 12
DEADLINES_PER_YEAR = 6
RSVPS_PER_EVENT = 8
POLLS_PER_YEAR = 26
BALLOTS_PER_POLL = 12
MESSAGES_PER_WEEK = 25
HANDLED_PER_WEEK = 50
HANDLED_KEPT_DAYS = 30
BATCH = 5_000
TAGS = ["numérique", "mobilité", "emploi", "tiers-lieux", "formation", "énergie", "culture"]

NOTICE_BODY = (
    "Proposition P{n} enregistrée : « Ouvrir un tiers-lieu numérique dans chaque "
    "communauté de communes, avec des permanences d'accompagnement » #numérique #tiers-lieux. "
    "Réagissez avec 👍 pour la soutenir."
)


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


class _Rows:
    """Collects rows per table and writes them in batches, in the order tables were first used."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.pending: dict[Table, list[dict[str, Any]]] = {}
        self.counts: dict[str, int] = {}

    def add(self, model: Any, **row: Any) -> None:
        table = _table(model)
        rows = self.pending.setdefault(table, [])
        rows.append(row)
        if len(rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        for table, rows in self.pending.items():
            if rows:
                self.connection.execute(insert(table), rows)
                self.counts[table.name] = self.counts.get(table.name, 0) + len(rows)
                rows.clear()


def _next_id(connection: Connection, model: Any) -> int:
    return (
        int(connection.execute(select(func.coalesce(func.max(_table(model).c.id), 0))).scalar_one())
        + 1
    )


def _people(room_index: int, count: int) -> list[str]:
    return [f"@membre{room_index}-{n}:year.test" for n in range(count)]


def _event_id(*parts: object) -> str:
    return "$year-" + "-".join(str(p) for p in parts)


def _weeks(end: dt.datetime) -> Iterator[tuple[int, dt.datetime]]:
    for week in range(WEEKS):
        yield week, end - dt.timedelta(weeks=WEEKS - week)


def seed_year(
    database: Database, rooms: list[str], *, end: dt.datetime, seed: int = 7
) -> dict[str, int]:
    """Write a year of activity ending at ``end`` for every room; rows written per table."""
    chance = random.Random(seed)
    with database.engine.begin() as connection:
        rows = _Rows(connection)
        ids = {model: _next_id(connection, model) for model in (Proposal, AgendaItem, Poll)}
        for room_index, room_id in enumerate(rooms):
            people = _people(room_index, 15)
            for week, monday in _weeks(end):
                for n in range(PROPOSALS_PER_WEEK):
                    _proposal(
                        rows, ids, room_id, people, chance, monday + dt.timedelta(days=n, hours=10)
                    )
                for n in range(MESSAGES_PER_WEEK):
                    sent = monday + dt.timedelta(hours=6 * n + 1)
                    rows.add(
                        OutboxMessage,
                        key=f"year:{room_id}:{week}:{n}",
                        room_id=room_id,
                        event_type="m.room.message",
                        content={
                            "msgtype": "m.notice",
                            "body": NOTICE_BODY.format(n=n),
                            "format": "org.matrix.custom.html",
                            "formatted_body": f"<p>{NOTICE_BODY.format(n=n)}</p>",
                            "m.mentions": {},
                        },
                        txn_id=f"year-{room_index}-{week}-{n}",
                        status="sent",
                        attempts=1,
                        next_attempt_at=sent,
                        created_at=sent,
                        sent_at=sent,
                        event_id=_event_id("sent", room_index, week, n),
                    )
                rows.add(
                    DigestRun,
                    room_id=room_id,
                    week=f"{monday.isocalendar().year}-W{monday.isocalendar().week:02d}",
                    period_start=monday - dt.timedelta(weeks=1),
                    period_end=monday,
                    trigger="schedule",
                    parts=1,
                    created_at=monday,
                )
                _done_task(rows, f"digest:{room_id}:{week}", "digest", room_id, monday)
                if week % 2 == 0:
                    _poll(rows, ids, room_id, people, monday + dt.timedelta(days=1))
                if week % (WEEKS // EVENTS_PER_YEAR) == 0:
                    _agenda_item(rows, ids, room_id, people, "event", monday + dt.timedelta(days=3))
                if week % (WEEKS // DEADLINES_PER_YEAR) == 1:
                    _agenda_item(
                        rows, ids, room_id, people, "deadline", monday + dt.timedelta(days=4)
                    )
            per_day = HANDLED_PER_WEEK / 7
            for n in range(int(HANDLED_KEPT_DAYS * per_day)):
                rows.add(
                    ProcessedEvent,
                    event_id=_event_id("seen", room_index, n),
                    room_id=room_id,
                    handled_at=end - dt.timedelta(days=n / per_day),
                )
        rows.flush()
    return rows.counts


def _proposal(
    rows: _Rows,
    ids: dict[Any, int],
    room_id: str,
    people: list[str],
    chance: random.Random,
    created: dt.datetime,
) -> None:
    proposal_id = ids[Proposal]
    ids[Proposal] += 1
    rows.add(
        Proposal,
        id=proposal_id,
        room_id=room_id,
        event_id=_event_id("proposal", proposal_id),
        author=chance.choice(people),
        text=f"Idée {proposal_id} : mutualiser les locaux et les outils entre structures",
        source="command",
        created_at=created,
    )
    for position, tag in enumerate(chance.sample(TAGS, 2)):
        rows.add(ProposalTag, proposal_id=proposal_id, folded=tag, display=tag, position=position)
    for supporter in chance.sample(people, SUPPORTS_PER_PROPOSAL):
        rows.add(
            ProposalReaction,
            proposal_id=proposal_id,
            reaction_event_id=_event_id("support", proposal_id, supporter),
            user_id=supporter,
            kind="support",
            created_at=created + dt.timedelta(hours=2),
        )


def _poll(
    rows: _Rows, ids: dict[Any, int], room_id: str, people: list[str], created: dt.datetime
) -> None:
    poll_id = ids[Poll]
    ids[Poll] += 1
    closed = created + dt.timedelta(days=2)
    rows.add(
        Poll,
        id=poll_id,
        room_id=room_id,
        author=people[0],
        question="Quel créneau pour la prochaine journée thématique ?",
        answers=[["1", "Mardi matin"], ["2", "Jeudi après-midi"], ["3", "Samedi"]],
        start_event_id=_event_id("poll", poll_id),
        created_at=created,
        closes_at=closed,
        status="closed",
        closed_at=closed,
        result={"counts": {"1": 5, "2": 4, "3": 3}, "voters": BALLOTS_PER_POLL},
    )
    for n, voter in enumerate(people[:BALLOTS_PER_POLL]):
        rows.add(
            PollBallot,
            poll_id=poll_id,
            voter=voter,
            ts=int((created + dt.timedelta(hours=n)).timestamp() * 1000),
            event_id=_event_id("ballot", poll_id, n),
            selections=[str(1 + n % 3)],
        )
    _done_task(rows, f"poll_close:S{poll_id}", "poll_close", room_id, closed)


def _agenda_item(
    rows: _Rows,
    ids: dict[Any, int],
    room_id: str,
    people: list[str],
    kind: str,
    starts: dt.datetime,
) -> None:
    item_id = ids[AgendaItem]
    ids[AgendaItem] += 1
    label = f"{'E' if kind == 'event' else 'D'}{item_id}"
    rows.add(
        AgendaItem,
        id=item_id,
        kind=kind,
        room_id=room_id,
        title="Journée thématique" if kind == "event" else "Dépôt des contributions",
        starts_at=starts,
        reminders="1j, 1h",
        timezone="Europe/Paris",
        author=people[0],
        announcement_event_id=_event_id("announce", item_id),
        created_at=starts - dt.timedelta(days=10),
    )
    if kind == "event":
        for n, person in enumerate(people[:RSVPS_PER_EVENT]):
            rows.add(
                EventRsvp,
                item_id=item_id,
                user_id=person,
                answer="going",
                reaction_event_id=_event_id("rsvp", item_id, n),
                answered_at=starts - dt.timedelta(days=5),
            )
    for offset in ("1j", "1h"):
        due = starts - (dt.timedelta(days=1) if offset == "1j" else dt.timedelta(hours=1))
        _done_task(rows, f"reminder:{label}:{offset}", f"{kind}_reminder", room_id, due)


def _done_task(rows: _Rows, key: str, kind: str, room_id: str, due: dt.datetime) -> None:
    rows.add(
        ScheduledTask,
        key=key,
        kind=kind,
        room_id=room_id,
        due_at=due,
        status="done",
        payload={},
        created_at=due - dt.timedelta(days=1),
        done_at=due,
    )
