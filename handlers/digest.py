"""`!résumé` / `!digest`: the weekly digest of a room, previewed, published and scheduled.

How it runs (the design choices, documented for organisers and deployers):
- Each joined room has one pending ``digest`` task keyed ``digest:<room>:<year>-W<week>``, due
  at the room's slot (`!réglages résumé`, default Monday 09:00 in the room's timezone). The
  task exists from the bot's start (``ensure_schedules``), from the room's first activity after
  a join, and follows `!réglages résumé …`/`fuseau …` at once (a hook in the settings command);
  `résumé off` cancels it. When it fires it posts the digest (outbox keys
  ``digest:<room>:<week>:part<N>``) and schedules the next week's task in the same transaction.
- A digest run is recorded per room and week (unique): `!résumé publier` publishes the coming
  digest early and moves the task to the following week; a task that still fires for a week
  already published posts nothing. Restarts cannot post twice (run row + outbox keys).
- Shared digest: after each posted digest, the week's Markdown and HTML files are rewritten
  from all the rooms' digests of that week (idempotent); when no room has a digest of that week
  still pending, the gathered digest is posted once to each shared room (`salon-résumé`, else
  the configured ``bot.digest_room``). A room digest posted after that only updates the files.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.context import Context, UserError
from bot.dates import format_duration, format_when
from bot.i18n import N_
from bot.intake import Hooks
from bot.messages import MAX_EVENT_BYTES, Rendered, notice_content
from bot.room_settings import RoomView, resolve
from bot.router import Command, fold
from bot.timers import TaskKind, TaskRun, Timers
from handlers import digest_files
from handlers.digest_model import (
    AgendaLine,
    Block,
    NewProposal,
    PollLine,
    PollRow,
    ProposalLine,
    RoomDigest,
    Schedule,
    group_by_tag,
    next_slot,
    period_start,
    slot_label,
    split,
    tag_counts,
    week_label,
)
from handlers.polls import poll_tally
from handlers.proposals import message_link, shorten
from handlers.settings import parse_digest_schedule
from handlers.tags import apply_synonyms, fold_tag
from storage.digests import TASK_KIND, DigestRepository
from storage.events import DEADLINE, AgendaRepository
from storage.models import ScheduledTask
from storage.polls import PollRepository
from storage.proposals import RETAINED, ProposalRepository
from storage.rooms import RoomSettingsRepository

if TYPE_CHECKING:
    from bot.app import Feature, Services

log = logging.getLogger(__name__)

PUBLISH_WORDS = {"publier", "publish"}
ROOM_LIMIT_PER_TAG = 20  # proposals shown per theme in chat; the files list them all
SHARED_RECHECK = timedelta(days=14)
JUST_NOW = timedelta(seconds=1)

ALREADY_PUBLISHED = N_(
    "The digest of week {week} was already published here ({when}). The next one is due {next}."
)
BAD_ARGUMENT = N_("Use {preview} to preview this week's digest or {publish} to post it now.")
MISSED = N_("weekly digest of week {week} (due {when})")


@dataclass(frozen=True)
class Target:
    """The digest a room would post now: its week, period and (scheduled) slot."""

    week: str
    start: datetime
    slot: datetime | None  # None when the room's digest is off


def schedule_of(room: RoomView) -> Schedule | None:
    parsed = parse_digest_schedule(room.digest_schedule)
    return None if parsed is None else Schedule(parsed.weekday, parsed.hour, parsed.minute)


def task_key(room_id: str, week: str) -> str:
    return f"{TASK_KIND}:{room_id}:{week}"


def upcoming_slot(
    repository: DigestRepository, room: RoomView, schedule: Schedule, after: datetime
) -> tuple[datetime, str]:
    """The next slot after ``after`` whose week has not been published yet."""
    slot = next_slot(after, schedule, room.tz)
    for _ in range(4):
        label = slot_label(slot, room.tz)
        if repository.get(room.room_id, label) is None:
            return slot, label
        slot = next_slot(slot, schedule, room.tz)
    return slot, slot_label(slot, room.tz)


def current_target(session: Session, room: RoomView, now: datetime) -> Target:
    """What `!résumé` shows and `!résumé publier` posts: the room's next digest, so far."""
    repository = DigestRepository(session)
    last = repository.last(room.room_id)
    last_end = last.period_end if last is not None else None
    schedule = schedule_of(room)
    if schedule is None:
        start = period_start(now, room.tz, last_end)
        return Target(week_label(now.astimezone(room.tz)), min(start, now), None)
    slot = next_slot(now, schedule, room.tz)
    return Target(slot_label(slot, room.tz), min(period_start(slot, room.tz, last_end), now), slot)


# --- building -------------------------------------------------------------------------------


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
    limit_per_tag: int | None = ROOM_LIMIT_PER_TAG,
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
    all_groups = group_by_tag(new, displays, None)
    digest.tag_counts = tag_counts(all_groups)
    digest.groups = (
        all_groups if limit_per_tag is None else group_by_tag(new, displays, limit_per_tag)
    )
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
    for item in agenda.list_upcoming(room.room_id, end):
        short = f"{'D' if item.kind == DEADLINE else 'E'}{item.id}"
        when = format_when(item.starts_at, tz=tz, language=language)
        if item.kind == DEADLINE:
            left = format_duration(item.starts_at - end, language=language)
            digest.deadlines.append(AgendaLine(short, item.title, when, time_left=left))
        else:
            assert item.id is not None
            counts = agenda.rsvp_counts(item.id)
            digest.events.append(
                AgendaLine(
                    short, item.title, when, counts["going"], counts["maybe"], counts["not_going"]
                )
            )
    return digest


# --- rendering ------------------------------------------------------------------------------


def content_size(rendered: Rendered) -> int:
    return len(json.dumps(notice_content(rendered), ensure_ascii=False).encode())


@dataclass
class RoomMessage:
    """How a room digest is rendered into one or more labelled messages."""

    renderer: Any  # MessageRenderer
    language: str
    digest: RoomDigest
    preview: bool = False
    late: str = ""
    limit: int = MAX_EVENT_BYTES
    _cache: dict[int, int] = field(default_factory=dict)

    def render(self, blocks: Sequence[Block], part: int = 1, parts: int = 1) -> Rendered:
        start, end = self.digest.period.split("|")
        return self.renderer.render(
            "digest_room",
            self.language,
            d=self.digest,
            blocks=list(blocks),
            start=start,
            end=end,
            part=part,
            parts=parts,
            preview=self.preview,
            late=self.late,
            limit=ROOM_LIMIT_PER_TAG,
        )

    def measure(self, blocks: Sequence[Block]) -> int:
        return content_size(self.render(blocks, 99, 99))

    def parts(self) -> list[Rendered]:
        chunks = split(self.digest.blocks(), self.measure, self.limit)
        return [self.render(chunk, index, len(chunks)) for index, chunk in enumerate(chunks, 1)]


# --- the feature ----------------------------------------------------------------------------


class DigestFeature:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._ensured: set[str] = set()
        self._names: dict[str, str] = {}

    # helpers --------------------------------------------------------------------------------

    def room_view(self, session: Session, room_id: str) -> RoomView:
        return resolve(
            room_id, RoomSettingsRepository(session).get(room_id), self.services.config.bot
        )

    def display_name(self, room_id: str) -> Callable[[str], str]:
        gateway = self.services.gateway
        return lambda user_id: gateway.display_name(room_id, user_id)

    async def _state(self, path: str) -> dict[str, Any]:
        request = getattr(self.services.gateway, "request_json", None)
        if request is None:
            return {}
        try:
            status, body = await request("GET", path)
        except Exception:  # a missing name is not worth failing a digest
            log.warning("could not read %s", path)
            return {}
        return body if status == 200 else {}

    async def room_name(self, room_id: str) -> str:
        if room_id not in self._names:
            body = await self._state(f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.name")
            self._names[room_id] = str(body.get("name") or room_id)
        return self._names[room_id]

    async def resolve_room(self, target: str) -> str:
        """A room ID for a `salon-résumé` value (room IDs as is, aliases looked up)."""
        if not target.startswith("#"):
            return target
        body = await self._state(f"/_matrix/client/v3/directory/room/{quote(target)}")
        return str(body.get("room_id") or "")

    # scheduling -----------------------------------------------------------------------------

    def ensure_room(self, session: Session, room: RoomView, now: datetime, keep: str = "") -> None:
        """Make the room's pending digest task match its schedule (none when it is off)."""
        timers = self.services.timers
        repository = DigestRepository(session)
        pending = [t for t in repository.tasks(room.room_id) if t.status == "pending"]
        schedule = schedule_of(room)
        wanted = ""
        if schedule is not None:
            slot, label = upcoming_slot(repository, room, schedule, now)
            wanted = task_key(room.room_id, label)
        for task in pending:
            if task.key not in (wanted, keep):
                timers.cancel(session, task.key)
        if schedule is None:
            return
        existing = repository.task(wanted)
        if existing is not None and existing.status == "cancelled":
            repository.revive_task(existing, slot)
        elif existing is not None and existing.status == "pending" and existing.due_at != slot:
            existing.due_at = slot
            session.add(existing)
        elif existing is not None and existing.status != "pending":
            return  # that week was handled already
        timers.add(
            session,
            key=wanted,
            kind=TASK_KIND,
            room_id=room.room_id,
            due_at=slot,
            payload={"week": label},
        )

    def ensure_schedules(self) -> None:
        """At start: every joined room has its digest task (left rooms stay without one)."""
        now = self.services.clock.now()
        with self.services.database.session() as session:
            repository = DigestRepository(session)
            for room_id in repository.joined_rooms():
                tasks = repository.tasks(room_id)
                room = self.room_view(session, room_id)
                pending = any(task.status == "pending" for task in tasks)
                if not pending and tasks and tasks[0].status == "cancelled" and schedule_of(room):
                    continue  # cancelled with the schedule on: the bot left the room
                self.ensure_room(session, room, now)
                self._ensured.add(room_id)
            weeks = repository.weeks_since(now - SHARED_RECHECK)
        for week in weeks:
            with self.services.database.session() as session:
                self.post_shared_if_complete(session, week, now, exclude="")

    def follow_settings(self, ctx: Context, values: dict[str, object]) -> None:
        """Called by `!réglages` after a change of the digest schedule or timezone."""
        room = ctx.room
        if "digest_schedule" in values:
            room = replace(room, digest_schedule=str(values["digest_schedule"]))
        if "timezone" in values:
            room = replace(room, timezone=str(values["timezone"]))
        self.ensure_room(ctx.session, room, ctx.clock.now())

    async def on_activity(self, ctx: Context, *_: Any) -> None:
        """A room's first activity after the bot's start or join gets its digest task."""
        if ctx.room_id in self._ensured:
            return
        self._ensured.add(ctx.room_id)
        if not any(t.status == "pending" for t in DigestRepository(ctx.session).tasks(ctx.room_id)):
            self.ensure_room(ctx.session, ctx.room, ctx.clock.now())

    # posting --------------------------------------------------------------------------------

    def _post(
        self,
        session: Session,
        room: RoomView,
        digest: RoomDigest,
        *,
        trigger: str,
        published_by: str | None,
        late: str = "",
    ) -> int:
        message = RoomMessage(self.services.renderer, room.language, digest, late=late)
        parts = message.parts()
        for index, rendered in enumerate(parts, 1):
            self.services.outbox.enqueue(
                session,
                key=f"{task_key(room.room_id, digest.week)}:part{index}",
                room_id=room.room_id,
                content=notice_content(rendered),
            )
        DigestRepository(session).add(
            room_id=room.room_id,
            week=digest.week,
            period_start=digest.start,
            period_end=digest.end,
            trigger=trigger,
            published_by=published_by,
            parts=len(parts),
            created_at=self.services.clock.now(),
        )
        return len(parts)

    async def fire(self, run: TaskRun) -> None:
        task, session = run.task, run.session
        room = self.room_view(session, task.room_id)
        week = str(task.payload.get("week") or task.key.rsplit(":", 1)[-1])
        repository = DigestRepository(session)
        if schedule_of(room) is None:
            return
        if repository.get(room.room_id, week) is None:
            last = repository.last(room.room_id)
            start = period_start(task.due_at, room.tz, last.period_end if last else None)
            digest = build_digest(
                session,
                room,
                week=week,
                start=start,
                end=task.due_at,
                display_name=self.display_name(room.room_id),
            )
            late = ""
            if run.is_late:
                late = format_when(task.due_at, tz=room.tz, language=room.language)
            self._post(session, room, digest, trigger="schedule", published_by=None, late=late)
        self.ensure_room(session, room, max(task.due_at, self.services.clock.now()), keep=task.key)
        await self.after_post(session, week, exclude=task.key)

    def describe_missed(self, task: ScheduledTask, language: str) -> str:
        room_tz = self.services.config.bot.timezone
        with self.services.database.session() as session:
            room_tz = self.room_view(session, task.room_id).timezone
        when = format_when(task.due_at, tz=ZoneInfo(room_tz), language=language)
        week = str(task.payload.get("week") or "")
        return self.services.translations.for_language(language).render(
            MISSED, week=week, when=when
        )

    # shared digest ---------------------------------------------------------------------------

    async def after_post(self, session: Session, week: str, *, exclude: str) -> None:
        """Rewrite the week's files; post the gathered digest once every room has posted."""
        for run in DigestRepository(session).list_week(week):
            await self.room_name(run.room_id)  # names for the files and the shared message
        session.flush()
        try:
            self.write_files(session, week)
        except OSError:
            log.exception("could not write the digest files of %s", week)
        targets = {}
        for run in DigestRepository(session).list_week(week):
            target = self.room_view(session, run.room_id).digest_room
            if target and target not in targets:
                targets[target] = await self.resolve_room(target)
        self.post_shared_if_complete(session, week, self.services.clock.now(), exclude, targets)

    def week_digests(self, session: Session, week: str, limit: int | None) -> list[RoomDigest]:
        digests = []
        for run in DigestRepository(session).list_week(week):
            room = self.room_view(session, run.room_id)
            digests.append(
                build_digest(
                    session,
                    room,
                    week=week,
                    start=run.period_start,
                    end=run.period_end,
                    display_name=self.display_name(run.room_id),
                    room_name=self._names.get(run.room_id, run.room_id),
                    limit_per_tag=limit,
                )
            )
        return digests

    def write_files(self, session: Session, week: str) -> None:
        config = self.services.config
        digests = self.week_digests(session, week, None)
        activity = digest_files.activity(
            DigestRepository(session), digests, week, config.bot.timezone, self._names
        )
        digest_files.write_week(
            config.data_path / "digests",
            week,
            digests,
            activity,
            renderer=self.services.renderer,
            language=config.bot.language,
        )

    def post_shared_if_complete(
        self,
        session: Session,
        week: str,
        now: datetime,
        exclude: str,
        targets: dict[str, str] | None = None,
    ) -> None:
        repository = DigestRepository(session)
        if [key for key in repository.pending_keys_for_week(week) if key != exclude]:
            return
        runs = repository.list_week(week)
        by_target: dict[str, list[str]] = {}
        for run in runs:
            target = self.room_view(session, run.room_id).digest_room
            resolved = (targets or {}).get(target, target if target.startswith("!") else "")
            if resolved:
                by_target.setdefault(resolved, []).append(run.room_id)
        if not by_target:
            return
        digests = {d.room_id: d for d in self.week_digests(session, week, ROOM_LIMIT_PER_TAG)}
        for target, room_ids in by_target.items():
            language = self.room_view(session, target).language
            shared = digest_files.SharedMessage(
                self.services.renderer, language, week, [digests[r] for r in room_ids]
            )
            for index, rendered in enumerate(shared.parts(), 1):
                self.services.outbox.enqueue(
                    session,
                    key=f"shared:{target}:{week}:part{index}",
                    room_id=target,
                    content=notice_content(rendered),
                )

    # commands -------------------------------------------------------------------------------

    async def resume(self, ctx: Context) -> None:
        await self.on_activity(ctx)
        argument = fold(ctx.args.strip())
        if argument in PUBLISH_WORDS:
            await self.publish(ctx)
        elif argument:
            raise UserError(BAD_ARGUMENT, preview="!résumé", publish="!résumé publier")
        else:
            self.preview(ctx)

    def preview(self, ctx: Context) -> None:
        now = ctx.clock.now() + JUST_NOW  # include what arrived this very second
        target = current_target(ctx.session, ctx.room, now)
        digest = build_digest(
            ctx.session,
            ctx.room,
            week=target.week,
            start=target.start,
            end=now,
            display_name=ctx.display_name,
        )
        message = RoomMessage(self.services.renderer, ctx.language, digest, preview=True)
        for rendered in message.parts():
            ctx.reply_rendered(rendered)

    async def publish(self, ctx: Context) -> None:
        await ctx.require_organiser()
        now = ctx.clock.now() + JUST_NOW  # include what arrived this very second
        target = current_target(ctx.session, ctx.room, now)
        repository = DigestRepository(ctx.session)
        earlier = repository.get(ctx.room_id, target.week)
        if earlier is not None:
            schedule = schedule_of(ctx.room)
            following = upcoming_slot(repository, ctx.room, schedule, now)[0] if schedule else None
            raise UserError(
                ALREADY_PUBLISHED,
                week=target.week,
                when=format_when(earlier.created_at, tz=ctx.room.tz, language=ctx.language),
                next=format_when(following, tz=ctx.room.tz, language=ctx.language)
                if following
                else ctx.t(N_("never (the digest is off here)")),
            )
        digest = build_digest(
            ctx.session,
            ctx.room,
            week=target.week,
            start=target.start,
            end=now,
            display_name=ctx.display_name,
        )
        self._post(ctx.session, ctx.room, digest, trigger="manual", published_by=ctx.sender)
        self._ensured.add(ctx.room_id)
        self.ensure_room(ctx.session, ctx.room, now)
        await self.after_post(ctx.session, target.week, exclude="")

    def commands(self) -> list[Command]:
        return [
            Command(
                name="résumé",
                aliases=("resume", "digest"),
                handler=self.resume,
                summary=N_("preview this week's digest of the room; organisers can post it now"),
                usage=N_("[publish]"),
                examples=(N_("digest"), N_("digest publish")),
                details=N_(
                    "The digest lists the week's new proposals by theme (most supported first), "
                    "the decisions, the polls closed and still open, the coming events with "
                    "their RSVPs and the deadlines. It is posted by itself every week (Monday "
                    "09:00 unless changed with !réglages résumé) and gathered with the other "
                    "rooms' digests in the shared digest room. “publish” posts it now "
                    "(organisers): it then counts as this week's digest, never posted twice."
                ),
            )
        ]


def feature(services: Services) -> Feature:
    """The digest: one command, its weekly task, and the room activity hook."""
    from bot.app import Feature

    digest = DigestFeature(services)
    return Feature(
        commands=digest.commands(),
        hooks=Hooks(messages=[digest.on_activity], reactions=[digest.on_activity]),
        task_kinds=[
            TaskKind(
                name=TASK_KIND,
                fire=digest.fire,
                describe_missed=digest.describe_missed,
                grace=None,  # a digest missed during downtime is posted late, once
            )
        ],
    )


def _instance(timers: Timers) -> DigestFeature | None:
    """The running digest feature, found through its registered task kind (no global)."""
    kind = timers.kinds.get(TASK_KIND)
    owner = getattr(kind.fire, "__self__", None) if kind is not None else None
    return owner if isinstance(owner, DigestFeature) else None


def ensure_schedules(services: Services) -> None:
    """At start, after the timers: give every joined room its pending digest task."""
    digest = _instance(services.timers)
    if digest is not None:
        digest.ensure_schedules()


def follow_settings(ctx: Context, values: dict[str, object]) -> None:
    """`!réglages résumé …` / `fuseau …` changed: move (or cancel) the room's digest task."""
    digest = _instance(ctx.timers)
    if digest is not None and {"digest_schedule", "timezone"} & values.keys():
        digest.follow_settings(ctx, values)
