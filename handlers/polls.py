"""`!sondage` / `!poll` and `!clore` / `!close`: native polls that every client can answer.

The bot sends an MSC3381 poll start event (Element renders it) and a short notice listing the
answers with number emoji, for clients that do not show polls. Votes are read from native
responses (unstable and stable types) and from number-emoji reactions on either event; every
vote is stored as a ballot so the tally can be recomputed with ``handlers.poll_tally``.
Polls that people start from their own client are recognised, stored and tallied the same way.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.clock import from_millis, to_millis
from bot.context import Context, UserError
from bot.dates import format_when, parse_when
from bot.fields import MSG_UNKNOWN_KEY, FieldError, key_names, split_fields
from bot.i18n import N_, Message
from bot.messages import MessageRenderer, notice_content
from bot.outbox import Outbox
from bot.room_settings import resolve
from bot.router import Command, Permission
from bot.timers import TaskKind, TaskRun, Timers
from handlers.poll_events import (
    MAX_ANSWER_LENGTH,
    MAX_ANSWERS,
    MIN_ANSWERS,
    POLL_END_TYPES,
    POLL_RESPONSE_TYPES,
    POLL_START_TYPES,
    UNSTABLE_END,
    UNSTABLE_START,
    build_poll_end,
    build_poll_start,
    parse_poll_end,
    parse_poll_response,
    parse_poll_start,
    vote_emoji,
)
from handlers.poll_tally import Ballot, TallyResult, reaction_ballot, tally
from storage.models import OutboxMessage, ScheduledTask
from storage.poll_models import Poll, PollBallot
from storage.polls import PollRepository
from storage.rooms import RoomSettingsRepository

if TYPE_CHECKING:
    from bot.app import Feature, Services

log = logging.getLogger(__name__)

TASK_KIND = "poll_close"
SENT_PREFIX = "poll:"
MAX_QUESTION_LENGTH = 500
POLL_OPTIONS = frozenset({"end", "choices"})
EXAMPLE = "!sondage Quel jour pour l'atelier ? ; mardi ; jeudi ; fin: vendredi 18h"
MSG_MAY_NOT_CLOSE = N_(
    "Only the author of poll {poll} or an organiser (power level {level} or more) can close it."
)
MSG_MAY_NOT_CANCEL = N_(
    "Only the author of poll {poll} or an organiser (power level {level} or more) can cancel it."
)
ID_PATTERN = re.compile(r"^[sS]?(\d{1,9})$")


# --- parsing `!sondage` --------------------------------------------------------------------


@dataclass(frozen=True)
class PollRequest:
    """A valid `!sondage` command: what to ask, the answers, how many choices, when it ends."""

    question: str
    answers: tuple[str, ...]
    max_selections: int
    closes_at: datetime | None


def _fold(text: str) -> str:
    """Case-, accent- and space-insensitive form: duplicate answers are compared so."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def parse_poll_request(text: str, *, now: datetime, tz: ZoneInfo, language: str) -> PollRequest:
    """Read `!sondage` arguments; raise UserError (or DateError) with a precise reason."""
    positional, options = split_fields(text)
    unexpected = set(options) - POLL_OPTIONS
    if unexpected:  # e.g. "lieu: …": a known field, but not one of a poll's
        raise FieldError(
            Message(
                MSG_UNKNOWN_KEY, {"key": sorted(unexpected)[0], "keys": key_names(POLL_OPTIONS)}
            )
        )
    if not positional:
        raise UserError(
            N_("Give a question and at least two options separated by “;”, e.g. {example}"),
            example=EXAMPLE,
        )
    question, answers = positional[0], positional[1:]
    if len(question) > MAX_QUESTION_LENGTH:
        raise UserError(
            N_("The question is too long: at most {max} characters."), max=MAX_QUESTION_LENGTH
        )
    if len(answers) < MIN_ANSWERS:
        raise UserError(
            N_(
                "A poll needs at least {min} options separated by “;” (got {count}), e.g. {example}"
            ),
            min=MIN_ANSWERS,
            count=len(answers),
            example=EXAMPLE,
        )
    if len(answers) > MAX_ANSWERS:
        raise UserError(
            N_("A poll can have at most {max} options (got {count})."),
            max=MAX_ANSWERS,
            count=len(answers),
        )
    seen: dict[str, str] = {}
    for answer in answers:
        if len(answer) > MAX_ANSWER_LENGTH:
            raise UserError(
                N_("The option “{option}…” is too long: at most {max} characters."),
                option=answer[:30],
                max=MAX_ANSWER_LENGTH,
            )
        folded = _fold(answer)
        if folded in seen:
            raise UserError(
                N_("The option “{option}” is given twice (as “{first}” and “{second}”)."),
                option=answer,
                first=seen[folded],
                second=answer,
            )
        seen[folded] = answer
    max_selections = 1
    if "choices" in options:
        value = options["choices"]
        if not value.isdigit() or not 1 <= int(value) <= len(answers):
            raise UserError(
                N_(
                    "The number of choices “{value}” is not valid: give a number from 1 to "
                    "{max} (the number of options)."
                ),
                value=value,
                max=len(answers),
            )
        max_selections = int(value)
    closes_at = None
    if "end" in options:
        closes_at = parse_when(options["end"], now=now, tz=tz, language=language)
    return PollRequest(question, tuple(answers), max_selections, closes_at)


def parse_poll_id(text: str) -> int:
    """`S2`, `s2` or `2` → 2; anything else is a UserError with an example."""
    match = ID_PATTERN.match(text.strip())
    if not match:
        raise UserError(N_("Give the poll's ID, e.g. {example}."), example="!clore S2")
    return int(match.group(1))


# --- tally ---------------------------------------------------------------------------------


def _ballot(row: PollBallot) -> Ballot:
    source = row.source if row.source in ("native", "reaction", "reaction_removed") else "native"
    return Ballot(
        voter=row.voter,
        ts=row.ts,
        event_id=row.event_id,
        selections=tuple(row.selections),
        source=source,  # type: ignore[arg-type]
        malformed=row.malformed,
    )


def answer_ids(poll: Poll) -> list[str]:
    return [answer_id for answer_id, _ in poll.answers]


def poll_tally(session: Session, poll: Poll, end: datetime | None = None) -> TallyResult:
    """Recompute a poll's tally from its stored ballots (votes after ``end`` are ignored)."""
    assert poll.id is not None
    end = end or poll.closed_at
    ballots = [_ballot(row) for row in PollRepository(session).list_ballots(poll.id)]
    end_ts = to_millis(end) if end is not None else None
    return tally(answer_ids(poll), poll.max_selections, ballots, end_ts)


def _result_snapshot(poll: Poll, result: TallyResult) -> dict[str, Any]:
    """What is stored at the close: counts only, never who voted what (vote privacy)."""
    return {
        "counts": dict(result.counts),
        "percentages": dict(result.percentages),
        "voters": result.voters,
        "spoiled": result.spoiled,
        "winners": list(result.winners),
    }


def _rows(poll: Poll, result: TallyResult) -> list[dict[str, Any]]:
    return [
        {
            "emoji": vote_emoji(index) or f"{index + 1}.",
            "text": text,
            "count": result.counts.get(answer_id, 0),
            "percent": result.percentages.get(answer_id, 0),
            "winner": answer_id in result.winners,
        }
        for index, (answer_id, text) in enumerate(poll.answers)
    ]


# --- closing -------------------------------------------------------------------------------


@dataclass
class Closer:
    """Closes polls from a command, a timer or a person's poll end event."""

    outbox: Outbox
    renderer: MessageRenderer
    timers: Timers

    def close(
        self,
        session: Session,
        poll: Poll,
        *,
        end: datetime,
        closed_by: str | None,
        language: str,
        send_end_event: bool,
        reply_to: str | None = None,
        late: bool = False,
        cancel_timer: bool = True,
    ) -> TallyResult:
        result = poll_tally(session, poll, end)
        PollRepository(session).mark_closed(
            poll, closed_at=end, closed_by=closed_by, result=_result_snapshot(poll, result)
        )
        if cancel_timer:
            self.timers.cancel(session, f"{TASK_KIND}:{poll.short_id}")
        texts = dict(poll.answers)
        winners = [texts[answer_id] for answer_id in result.winners]
        if send_end_event and poll.start_event_id:
            if winners:
                summary = self.renderer.text(
                    language,
                    N_("Poll {poll} is closed. Winning answer: {winners}"),
                    poll=poll.short_id,
                    winners=", ".join(winners),
                )
            else:
                summary = self.renderer.text(
                    language, N_("Poll {poll} is closed. No votes."), poll=poll.short_id
                )
            self.outbox.enqueue(
                session,
                key=f"pollend:{poll.short_id}",
                room_id=poll.room_id,
                content=build_poll_end(poll.start_event_id, summary.body),
                event_type=UNSTABLE_END,
            )
        rendered = self.renderer.render(
            "polls_results",
            language,
            poll_id=poll.short_id,
            question=poll.question,
            rows=_rows(poll, result),
            voters=result.voters,
            spoiled=result.spoiled,
            winners=winners,
            late=late,
        )
        self.outbox.enqueue(
            session,
            key=f"pollresults:{poll.short_id}",
            room_id=poll.room_id,
            content=notice_content(rendered, reply_to=reply_to),
        )
        return result


# --- commands ------------------------------------------------------------------------------


class PollFeature:
    """The poll commands, hooks and timer, sharing one Closer."""

    def __init__(self, closer: Closer, defaults: Any) -> None:
        self.closer = closer
        self.defaults = defaults

    async def sondage(self, ctx: Context) -> None:
        request = parse_poll_request(
            ctx.args, now=ctx.clock.now(), tz=ctx.room.tz, language=ctx.language
        )
        content, ids = build_poll_start(
            request.question, list(request.answers), request.max_selections
        )
        repository = PollRepository(ctx.session)
        poll = repository.add(
            room_id=ctx.room_id,
            author=ctx.sender,
            question=request.question,
            answers=list(zip(ids, request.answers, strict=True)),
            max_selections=request.max_selections,
            created_at=ctx.clock.now(),
            closes_at=request.closes_at,
            command_event_id=ctx.event_id,
        )
        ctx.send(f"{SENT_PREFIX}{poll.short_id}:start", content, event_type=UNSTABLE_START)
        if request.closes_at is not None:
            ctx.timers.add(
                ctx.session,
                key=f"{TASK_KIND}:{poll.short_id}",
                kind=TASK_KIND,
                room_id=ctx.room_id,
                due_at=request.closes_at,
                payload={"poll_id": poll.id},
            )
        self._send_notice(ctx, poll, reply_to=ctx.event_id)

    def _send_notice(self, ctx: Context, poll: Poll, *, reply_to: str) -> None:
        """The confirmation: ID, answers with their number emoji, closing time, how to close."""
        closes = (
            format_when(poll.closes_at, tz=ctx.room.tz, language=ctx.language)
            if poll.closes_at
            else None
        )
        rendered = ctx.renderer.render(
            "polls_started",
            ctx.language,
            poll_id=poll.short_id,
            question=poll.question,
            answers=[
                {"emoji": vote_emoji(index) or "", "text": text}
                for index, (_, text) in enumerate(poll.answers)
            ],
            max_selections=poll.max_selections,
            closes=closes,
            origin=poll.origin,
        )
        ctx.send(
            f"{SENT_PREFIX}{poll.short_id}:notice",
            notice_content(rendered, reply_to=reply_to, thread_root=ctx.thread_root),
        )

    async def clore(self, ctx: Context) -> None:
        poll = await _poll_for_author(ctx, ctx.args, MSG_MAY_NOT_CLOSE)
        if poll.status != "open":
            _refuse_finished(ctx, poll)
        end = ctx.origin_ts if ctx.origin_ts <= ctx.clock.now() else ctx.clock.now()
        self.closer.close(
            ctx.session,
            poll,
            end=end,
            closed_by=ctx.sender,
            language=ctx.language,
            send_end_event=poll.origin == "command",
            reply_to=ctx.event_id,
        )

    # --- hooks ---------------------------------------------------------------------------

    async def on_poll_event(self, ctx: Context, raw: dict[str, Any]) -> None:
        event_type = raw.get("type")
        if event_type in POLL_START_TYPES:
            self._on_start(ctx, raw)
        elif event_type in POLL_RESPONSE_TYPES:
            self._on_response(ctx, raw)
        elif event_type in POLL_END_TYPES:
            await self._on_end(ctx, raw)

    def _on_start(self, ctx: Context, raw: dict[str, Any]) -> None:
        definition = parse_poll_start(raw)
        if definition is None or len(definition.answers) < MIN_ANSWERS:
            return
        repository = PollRepository(ctx.session)
        if repository.get_by_event(ctx.room_id, definition.event_id) is not None:
            return
        poll = repository.add(
            room_id=ctx.room_id,
            author=definition.sender,
            question=definition.question[:MAX_QUESTION_LENGTH],
            answers=[(i, text[:MAX_ANSWER_LENGTH]) for i, text in definition.answers],
            max_selections=definition.max_selections,
            created_at=from_millis(definition.ts),
            origin="client",
            start_event_id=definition.event_id,
        )
        if not ctx.is_backlog:
            self._send_notice(ctx, poll, reply_to=definition.event_id)

    def _on_response(self, ctx: Context, raw: dict[str, Any]) -> None:
        response = parse_poll_response(raw)
        if response is None:
            return
        poll = PollRepository(ctx.session).get_by_event(ctx.room_id, response.poll_event_id)
        if poll is None or poll.start_event_id != response.poll_event_id:
            return
        PollRepository(ctx.session).add_ballot(
            poll,
            voter=response.sender,
            ts=response.ts,
            event_id=response.event_id,
            selections=response.selections,
            source="native",
            malformed=response.malformed,
        )

    async def _on_end(self, ctx: Context, raw: dict[str, Any]) -> None:
        marker = parse_poll_end(raw)
        if marker is None:
            return
        poll = PollRepository(ctx.session).get_by_event(ctx.room_id, marker.poll_event_id)
        if poll is None or poll.start_event_id != marker.poll_event_id or poll.status != "open":
            return
        if marker.sender != poll.author and not await ctx.is_organiser(marker.sender):
            return  # MSC3381: only the creator (or a moderator) can end a poll
        self.closer.close(
            ctx.session,
            poll,
            end=from_millis(marker.ts),
            closed_by=marker.sender,
            language=ctx.language,
            send_end_event=False,
        )

    async def on_reaction(self, ctx: Context, target_event_id: str, key: str) -> None:
        poll = PollRepository(ctx.session).get_by_event(ctx.room_id, target_event_id)
        if poll is None:
            return
        ballot = reaction_ballot(
            answer_ids(poll), ctx.sender, to_millis(ctx.origin_ts), ctx.event_id, key
        )
        if ballot is None:
            return
        PollRepository(ctx.session).add_ballot(
            poll,
            voter=ballot.voter,
            ts=ballot.ts,
            event_id=ballot.event_id,
            selections=ballot.selections,
            source="reaction",
        )

    async def on_redaction(self, ctx: Context, redacted_event_id: str) -> None:
        """A removed reaction is logged as a removal; a redacted response is forgotten."""
        repository = PollRepository(ctx.session)
        moment = to_millis(ctx.origin_ts)
        for ballot, poll in repository.find_ballots(ctx.room_id, redacted_event_id):
            if poll.closed_at is not None and moment > to_millis(poll.closed_at):
                continue  # after the end nothing changes the result
            if ballot.source == "reaction":
                repository.add_ballot(
                    poll,
                    voter=ballot.voter,
                    ts=moment,
                    event_id=ballot.event_id,
                    selections=(),
                    source="reaction_removed",
                )
            elif ballot.source == "native":
                repository.delete_ballot(ballot)

    def on_sent(self, session: Session, message: OutboxMessage) -> None:
        """Learn the event IDs of the bot's poll start and notice (`poll:S2:start|notice`)."""
        parts = message.key.split(":")
        if len(parts) != 3 or not parts[1].startswith("S") or not parts[1][1:].isdigit():
            return
        poll = PollRepository(session).get(int(parts[1][1:]))
        if poll is None or message.event_id is None:
            return
        if parts[2] == "start":
            PollRepository(session).update(poll, start_event_id=message.event_id)
        elif parts[2] == "notice":
            PollRepository(session).update(poll, notice_event_id=message.event_id)

    # --- timer ---------------------------------------------------------------------------

    async def fire_close(self, run: TaskRun) -> None:
        poll_id = run.task.payload.get("poll_id")
        poll = PollRepository(run.session).get(poll_id) if isinstance(poll_id, int) else None
        if poll is None or poll.status != "open":
            return
        stored = RoomSettingsRepository(run.session).get(poll.room_id)
        room = resolve(poll.room_id, stored, self.defaults)
        self.closer.close(
            run.session,
            poll,
            end=run.task.due_at,
            closed_by=None,
            language=room.language,
            send_end_event=poll.origin == "command",
            late=run.is_late,
            cancel_timer=False,
        )

    def describe_missed(self, task: ScheduledTask, language: str) -> str:
        poll_id = task.payload.get("poll_id")
        return self.closer.renderer.text(
            language,
            N_("Poll S{id} was not closed on time: close it with !clore S{id}."),
            id=poll_id,
        ).body


def _refuse_finished(ctx: Context, poll: Poll) -> None:
    when = (
        format_when(poll.closed_at, tz=ctx.room.tz, language=ctx.language)
        if poll.closed_at
        else "?"
    )
    if poll.status == "cancelled":
        raise UserError(N_("Poll {poll} was cancelled ({when})."), poll=poll.short_id, when=when)
    raise UserError(N_("Poll {poll} is already closed ({when})."), poll=poll.short_id, when=when)


# --- wiring --------------------------------------------------------------------------------


async def _poll_for_author(ctx: Context, text: str, refusal: str) -> Poll:
    """The room's poll named by ``text``, if the sender is its author or an organiser."""
    if not text.strip():
        raise UserError(N_("Give the poll's ID, e.g. {example}."), example="!clore S2")
    poll_id = parse_poll_id(text.split()[0])
    poll = PollRepository(ctx.session).get_in_room(ctx.room_id, poll_id)
    if poll is None:
        raise UserError(N_("There is no poll S{id} in this room."), id=poll_id)
    if poll.author != ctx.sender and not await ctx.is_organiser():
        raise UserError(refusal, poll=poll.short_id, level=ctx.room.organiser_power_level)
    return poll


async def cancel_poll(ctx: Context, poll_id: str) -> None:
    """Cancel poll ``poll_id`` (`S2`) for `!annuler`: author or organisers; no results posted.

    Refusals raise UserError; on success the poll is marked cancelled, its closing timer is
    cancelled, clients are told it ended (bot polls), and the command gets a confirmation.
    """
    poll = await _poll_for_author(ctx, poll_id, MSG_MAY_NOT_CANCEL)
    if poll.status != "open":
        _refuse_finished(ctx, poll)
    PollRepository(ctx.session).mark_closed(
        poll, closed_at=ctx.clock.now(), closed_by=ctx.sender, result=None, status="cancelled"
    )
    ctx.timers.cancel(ctx.session, f"{TASK_KIND}:{poll.short_id}")
    if poll.origin == "command" and poll.start_event_id:
        text = ctx.t(N_("Poll {poll} was cancelled."), poll=poll.short_id)
        ctx.send(
            f"pollend:{poll.short_id}",
            build_poll_end(poll.start_event_id, text),
            event_type=UNSTABLE_END,
        )
    ctx.reply(N_("Poll {poll} is cancelled: no results will be posted."), poll=poll.short_id)


def feature(services: Services) -> Feature:
    from bot.app import Feature
    from bot.intake import Hooks

    closer = Closer(services.outbox, services.renderer, services.timers)
    polls = PollFeature(closer, services.config.bot)
    return Feature(
        commands=[
            Command(
                name="sondage",
                aliases=("poll",),
                handler=polls.sondage,
                summary=N_("start a poll (2 to 20 options) that every client can answer"),
                usage=N_("<question> ; <option> ; <option> [; …] [; end: <when>] [; choices: N]"),
                examples=(
                    N_("poll Which day for the workshop? ; Tuesday ; Thursday ; end: friday 6pm"),
                    N_("poll Which topics? ; digital ; mobility ; housing ; choices: 2"),
                ),
                permission=Permission.EVERYONE,
                details=N_(
                    "Vote in the poll, or react to it with 1️⃣ 2️⃣ 3️⃣… "
                    "The poll closes at “end” or with !close; results are then posted here."
                ),
            ),
            Command(
                name="clore",
                aliases=("close",),
                handler=polls.clore,
                summary=N_("close a poll now and post its results"),
                usage=N_("<poll ID>"),
                examples=(N_("close S2"),),
                permission=Permission.EVERYONE,
                details=N_("The poll's author and organisers can close it."),
            ),
        ],
        hooks=Hooks(
            polls=[polls.on_poll_event],
            reactions=[polls.on_reaction],
            redactions=[polls.on_redaction],
        ),
        task_kinds=[
            TaskKind(
                name=TASK_KIND,
                fire=polls.fire_close,
                describe_missed=polls.describe_missed,
                grace=None,  # results are still worth posting after a long downtime
            )
        ],
        sent_hooks=[(SENT_PREFIX, polls.on_sent)],
    )


__all__ = [
    "PollRequest",
    "cancel_poll",
    "feature",
    "parse_poll_id",
    "parse_poll_request",
    "poll_tally",
]
