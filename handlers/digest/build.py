"""Gathering a room's digest of a period from the proposals, polls and agenda (no rendering).

Kept apart from posting and scheduling because three readers build the same model: the preview
(`!résumé`), the posted digest, and the shared digest and files. All of them name every
proposal of the period: the digest is the group's record, so nothing is capped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.runtime.config import BotConfig
from bot.runtime.kit import MemberNames
from bot.runtime.room_settings import RoomView, resolve
from bot.text.dates import format_duration, format_when
from handlers.digest.model import (
    AgendaLine,
    NewProposal,
    PollLine,
    PollRow,
    ProposalLine,
    RoomDigest,
    group_by_tag,
    tag_counts,
)
from handlers.polls.results import poll_tally
from handlers.shared.occurrences import schedule
from handlers.shared.tags import apply_synonyms, fold_tag
from handlers.shared.text import message_link, shorten
from storage.agenda import DEADLINE, AgendaRepository
from storage.digests import DigestRepository
from storage.polls import PollRepository
from storage.proposals import RETAINED, ProposalRepository
from storage.rooms import RoomSettingsRepository

# A recurring event shows its meetings of the coming week (the digest is weekly).
UPCOMING_MEETINGS = timedelta(days=7)


def room_view(session: Session, room_id: str, defaults: BotConfig) -> RoomView:
    """A room's effective settings (its own over the configured defaults)."""
    return resolve(room_id, RoomSettingsRepository(session).get(room_id), defaults)


def member_names(gateway: MemberNames, room_id: str) -> Callable[[str], str]:
    """How members of a room are named in its digest (their display name there)."""
    return lambda user_id: gateway.display_name(room_id, user_id)


def display_map(
    repository: DigestRepository, room_id: str, synonyms: Mapping[str, str]
) -> dict[str, str]:
    """Canonical tag → its most used spelling in the room (the rule of `!propositions`)."""
    grouped: dict[str, list[tuple[str, int]]] = {}
    for folded, display, uses in repository.tag_spellings(room_id):
        grouped.setdefault(apply_synonyms(folded, synonyms), []).append((display, uses))
    result = {}
    for canonical, spellings in grouped.items():
        own = [entry for entry in spellings if fold_tag(entry[0]) == canonical] or spellings
        result[canonical] = max(own, key=lambda entry: entry[1])[0]  # ties: first written
    return result


def build_digest(
    session: Session,
    room: RoomView,
    *,
    week: str,
    start: datetime,
    end: datetime,
    display_name: Callable[[str], str],
    room_name: str = "",
) -> RoomDigest:
    """Gather a room's digest of ``[start, end)`` from the proposals, polls and agenda."""
    language, tz, synonyms = room.language, room.tz, room.tag_synonyms
    names: dict[str, str] = {}

    def name(user_id: str) -> str:
        if user_id not in names:
            names[user_id] = display_name(user_id)
        return names[user_id]

    repository = DigestRepository(session)
    rows = repository.proposal_rows(room.room_id, start, end)
    tags = repository.proposal_tags(room.room_id, start, end) if rows else {}
    supports = repository.proposal_supports(room.room_id, start, end) if rows else {}
    statuses = repository.proposal_statuses(room.room_id, start, end) if rows else {}
    displays = display_map(repository, room.room_id, synonyms) if rows else {}
    new = [
        NewProposal(
            line=ProposalLine(
                id=f"P{row.id}",
                text=shorten(row.text),
                author=name(row.author),
                supports=supports.get(row.id, 0),
                link=message_link(room.room_id, row.event_id),
                retained=statuses.get(row.id) == RETAINED,
            ),
            tags=tuple(apply_synonyms(folded, synonyms) for folded in tags.get(row.id, ())),
            created_at=row.created_at,
        )
        for row in rows
    ]
    digest = RoomDigest(
        room_id=room.room_id,
        room_name=room_name or room.room_id,
        week=week,
        start=start,
        end=end,
        period="|".join(format_when(m, tz=tz, language=language) for m in (start, end)),
        new_proposals=len(new),
    )
    digest.groups = group_by_tag(new, displays)
    digest.tag_counts = tag_counts(digest.groups)
    proposals = ProposalRepository(session)
    retained_ids = repository.retained_between(room.room_id, start, end)
    digest.decisions = [
        ProposalLine(
            id=view.short_id,
            text=shorten(view.text),
            author=name(view.author),
            supports=view.supports,
            link=message_link(view.room_id, view.event_id),
            retained=True,
        )
        for view in proposals.views(retained_ids)
        if view.status == RETAINED
    ]
    polls = PollRepository(session)
    for poll in polls.list_closed_between(start, end, room_id=room.room_id):
        result = poll.result or {}
        counts = result.get("counts") or {}
        percentages = result.get("percentages") or {}
        winner_ids = set(result.get("winners") or [])
        digest.polls_closed.append(
            PollLine(
                id=poll.short_id,
                question=poll.question,
                rows=tuple(
                    PollRow(
                        text,
                        int(counts.get(aid, 0)),
                        int(percentages.get(aid, 0)),
                        aid in winner_ids,
                    )
                    for aid, text in poll.answers
                ),
                voters=int(result.get("voters", 0)),
                winners=tuple(text for aid, text in poll.answers if aid in winner_ids),
                members=result.get("members") if isinstance(result.get("members"), int) else None,
                outcome=str(result.get("outcome") or ""),
                objections=int(result.get("objections") or 0),
            )
        )
    for poll in polls.list_open_at(end, room_id=room.room_id):
        if poll.status == "cancelled":
            continue
        digest.polls_open.append(
            PollLine(
                id=poll.short_id,
                question=poll.question,
                voters=poll_tally(session, poll, end).voters,
                closes=format_when(poll.closes_at, tz=tz, language=language)
                if poll.closes_at
                else "",
            )
        )
    agenda = AgendaRepository(session)
    events: list[tuple[datetime, AgendaLine]] = []
    for item in agenda.list_upcoming(room.room_id, end):
        assert item.id is not None
        short = f"{'D' if item.kind == DEADLINE else 'E'}{item.id}"
        if item.kind == DEADLINE:
            when = format_when(item.starts_at, tz=tz, language=language)
            left = format_duration(item.starts_at - end, language=language)
            digest.deadlines.append(AgendaLine(short, item.title, when, time_left=left))
            continue
        # a recurring event: each of its meetings in the coming week, with its own answers
        meetings: list[tuple[datetime, datetime | None]] = [(item.starts_at, None)]
        if item.recurrence:
            coming = schedule(
                item, agenda.exceptions(item.id), after=end, before=end + UPCOMING_MEETINGS
            )
            meetings = [(meeting.starts_at, meeting.original) for meeting in coming]
        for starts_at, occurs_at in meetings:
            counts = agenda.rsvp_counts(item.id, occurs_at)
            when = format_when(starts_at, tz=tz, language=language)
            line = AgendaLine(
                short, item.title, when, counts["going"], counts["maybe"], counts["not_going"]
            )
            events.append((starts_at, line))
    digest.events.extend(line for _, line in sorted(events, key=lambda pair: pair[0]))
    return digest
