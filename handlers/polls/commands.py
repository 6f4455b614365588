"""`!sondage` / `!poll`, `!décision` / `!decision` and `!clore` / `!close`: native polls that
every client can answer, and decisions by consent voted with reactions.

The bot sends an MSC3381 poll start event (Element renders it) and a short notice listing the
answers with number emoji, for clients that do not show polls. This module holds the commands,
the notice and the wiring; the rest of the feature lives next to it:

- ``handlers.polls.args``: reading `!sondage` arguments and poll IDs;
- ``handlers.polls.intake``: votes from native responses (unstable and stable types) and
  number-emoji reactions on either event, redactions, and polls people start or end from
  their own client, all stored as ballots;
- ``handlers.polls.closing``: recounting the ballots with ``handlers.polls.tally`` and posting
  the results, by `!clore`, by the closing timer or by a poll end event;
- ``handlers.polls.events``: the MSC3381 event shapes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlmodel import Session

from bot.runtime.context import Context
from bot.runtime.kit import Feature, Hooks, RedactionRights, Services
from bot.runtime.messages import notice_content, reaction_content
from bot.runtime.outbox import Outbox
from bot.runtime.router import Command, Permission
from bot.runtime.timers import TaskKind
from bot.text.dates import format_when
from bot.text.errors import UserError
from bot.text.i18n import N_
from handlers.polls.args import (
    DecisionRequest,
    PollRequest,
    parse_decision_request,
    parse_poll_id,
    parse_poll_request,
)
from handlers.polls.closing import (
    TASK_KIND,
    Closer,
    ClosingTimer,
    close_task_key,
    end_event_key,
)
from handlers.polls.consent import ANSWERS, EMOJI
from handlers.polls.events import (
    UNSTABLE_END,
    UNSTABLE_START,
    build_poll_end,
    build_poll_start,
    vote_emoji,
)
from handlers.polls.intake import PollIntake
from storage.models import OutboxMessage
from storage.poll_models import Poll
from storage.polls import PollRepository

log = logging.getLogger(__name__)

SENT_PREFIX = "poll:"
MSG_MAY_NOT_CLOSE = N_(
    "Only the author of poll {poll} or an organiser (power level {level} or more) can close it."
)
MSG_MAY_NOT_CANCEL = N_(
    "Only the author of poll {poll} or an organiser (power level {level} or more) can cancel it."
)


class PollCommands:
    """`!sondage` and `!clore`, sharing one Closer with the intake and the timer."""

    def __init__(self, closer: Closer, gateway: RedactionRights) -> None:
        self.closer = closer
        self.gateway = gateway

    async def sondage(self, ctx: Context) -> None:
        """Start a poll: store it, send the poll event and the notice, set its closing timer."""
        request: PollRequest = ctx.arguments
        content, ids = build_poll_start(
            request.question,
            list(request.answers),
            request.max_selections,
            disclosed=not request.hide_results,
        )
        repository = PollRepository(ctx.session)
        poll = repository.add(
            room_id=ctx.room_id,
            author=ctx.sender,
            question=request.question,
            answers=list(zip(ids, request.answers, strict=True)),
            max_selections=request.max_selections,
            settings=request.settings(),
            created_at=ctx.clock.now(),
            closes_at=request.closes_at,
            command_event_id=ctx.event_id,
        )
        ctx.send(f"{SENT_PREFIX}{poll.short_id}:start", content, event_type=UNSTABLE_START)
        _set_closing_timer(ctx, poll)
        send_notice(ctx, poll, ctx.event_id)

    async def decision(self, ctx: Context) -> None:
        """Propose a decision by consent: store it, post its message, set its closing timer."""
        request: DecisionRequest = ctx.arguments
        poll = PollRepository(ctx.session).add(
            room_id=ctx.room_id,
            author=ctx.sender,
            kind="consent",
            question=request.text,
            answers=[(answer_id, ctx.t(label)) for answer_id, _, label in ANSWERS],
            max_selections=1,
            settings=request.settings(),
            created_at=ctx.clock.now(),
            closes_at=request.closes_at,
            command_event_id=ctx.event_id,
        )
        _set_closing_timer(ctx, poll)
        closes = (
            format_when(poll.closes_at, tz=ctx.room.tz, language=ctx.language)
            if poll.closes_at
            else None
        )
        rendered = ctx.renderer.render(
            "polls_decision_started",
            ctx.language,
            poll_id=poll.short_id,
            text=poll.question,
            answers=[{"emoji": EMOJI[answer_id], "text": text} for answer_id, text in poll.answers],
            closes=closes,
            quorum=(poll.settings or {}).get("quorum"),
        )
        ctx.send(
            f"{SENT_PREFIX}{poll.short_id}:notice",
            notice_content(rendered, reply_to=ctx.event_id, thread_root=ctx.thread_root),
        )

    async def clore(self, ctx: Context) -> None:
        """Close a poll now (author or organisers) and post its results."""
        poll = await _poll_for_author(ctx, ctx.arguments, MSG_MAY_NOT_CLOSE)
        if poll.status != "open":
            _refuse_finished(ctx, poll)
        end = ctx.origin_ts if ctx.origin_ts <= ctx.clock.now() else ctx.clock.now()
        await self.closer.close(
            ctx.session,
            poll,
            end=end,
            closed_by=ctx.sender,
            language=ctx.language,
            # A poll started from a client ends for everyone only if the bot may redact here.
            send_end_event=(
                poll.origin == "command" or await self.gateway.may_redact_others(ctx.room_id)
            ),
            reply_to=ctx.event_id,
        )


def _set_closing_timer(ctx: Context, poll: Poll) -> None:
    if poll.closes_at is not None:
        ctx.timers.add(
            ctx.session,
            key=close_task_key(poll),
            kind=TASK_KIND,
            room_id=ctx.room_id,
            due_at=poll.closes_at,
            payload={"poll_id": poll.id},
        )


def send_notice(ctx: Context, poll: Poll, reply_to: str) -> None:
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
        quorum=(poll.settings or {}).get("quorum"),
        hidden=(poll.settings or {}).get("results") == "end",
    )
    ctx.send(
        f"{SENT_PREFIX}{poll.short_id}:notice",
        notice_content(rendered, reply_to=reply_to, thread_root=ctx.thread_root),
    )


def sent_hook(outbox: Outbox) -> Callable[[Session, OutboxMessage], None]:
    def on_sent(session: Session, message: OutboxMessage) -> None:
        """Learn the event IDs of the bot's poll start and notice (`poll:S2:start|notice`);
        under a decision's message, put the four answers as reactions, one click away."""
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
            if poll.kind == "consent":
                for answer_id, emoji, _ in ANSWERS:
                    outbox.enqueue(
                        session,
                        key=f"decisionchoices:{poll.short_id}:{answer_id}",
                        room_id=poll.room_id,
                        content=reaction_content(message.event_id, emoji),
                        event_type="m.reaction",
                    )

    return on_sent


def _refuse_finished(ctx: Context, poll: Poll) -> None:
    when = (
        format_when(poll.closed_at, tz=ctx.room.tz, language=ctx.language)
        if poll.closed_at
        else "?"
    )
    if poll.status == "cancelled":
        raise UserError(N_("Poll {poll} was cancelled ({when})."), poll=poll.short_id, when=when)
    raise UserError(N_("Poll {poll} is already closed ({when})."), poll=poll.short_id, when=when)


def read_poll_id(ctx: Context) -> int:
    """`!clore` arguments: the poll's ID (`S2`, `2`); only the first word counts
    (`!clore S2 merci`)."""
    words = ctx.args.split()
    return parse_poll_id(words[0] if words else "")


async def _poll_for_author(ctx: Context, poll_id: int, refusal: str) -> Poll:
    """The room's poll ``poll_id``, if the sender is its author or an organiser."""
    poll = PollRepository(ctx.session).get_in_room(ctx.room_id, poll_id)
    if poll is None:
        raise UserError(N_("There is no poll S{id} in this room."), id=poll_id)
    if poll.author != ctx.sender and not await ctx.is_organiser():
        raise UserError(refusal, poll=poll.short_id, level=ctx.room.organiser_power_level)
    return poll


async def cancel_poll(ctx: Context, poll_id: int) -> None:
    """Cancel poll ``poll_id`` (`!annuler S2`: 2): author or organisers; no results posted.

    Refusals raise UserError; on success the poll is marked cancelled, its closing timer is
    cancelled, clients are told it ended (bot polls), and the command gets a confirmation.
    """
    poll = await _poll_for_author(ctx, poll_id, MSG_MAY_NOT_CANCEL)
    if poll.status != "open":
        _refuse_finished(ctx, poll)
    PollRepository(ctx.session).mark_closed(
        poll, closed_at=ctx.clock.now(), closed_by=ctx.sender, result=None, status="cancelled"
    )
    ctx.timers.cancel(ctx.session, close_task_key(poll))
    if poll.origin == "command" and poll.start_event_id:
        text = ctx.t(N_("Poll {poll} was cancelled."), poll=poll.short_id)
        ctx.send(
            end_event_key(poll),
            build_poll_end(poll.start_event_id, text),
            event_type=UNSTABLE_END,
        )
    ctx.reply(N_("Poll {poll} is cancelled: no results will be posted."), poll=poll.short_id)


def read_poll_request(ctx: Context) -> PollRequest:
    return parse_poll_request(ctx.args, now=ctx.clock.now(), tz=ctx.room.tz, language=ctx.language)


def read_decision_request(ctx: Context) -> DecisionRequest:
    return parse_decision_request(
        ctx.args, now=ctx.clock.now(), tz=ctx.room.tz, language=ctx.language
    )


def feature(services: Services) -> Feature:
    """The poll commands, the hooks that read votes, the closing timer and the sent hook."""
    closer = Closer(
        services.outbox,
        services.renderer,
        services.timers,
        services.gateway,
        services.config.matrix.user_id,
    )
    commands = PollCommands(closer, services.gateway)
    intake = PollIntake(closer, announce=send_notice)
    timer = ClosingTimer(closer, services.config.bot)
    return Feature(
        cancellers={"S": cancel_poll},
        commands=[
            Command(
                name="sondage",
                aliases=("poll",),
                handler=commands.sondage,
                arguments=read_poll_request,
                summary=N_("start a poll (2 to 20 options) that every client can answer"),
                usage=N_(
                    "<question> ; <option> ; <option> [; …] [; end: <when>] [; choices: N] "
                    "[; quorum: N%] [; results: at the end]"
                ),
                examples=(
                    N_("poll Which day for the workshop? ; Tuesday ; Thursday ; end: friday 6pm"),
                    N_("poll Which topics? ; digital ; mobility ; housing ; choices: 2"),
                ),
                permission=Permission.EVERYONE,
                details=N_(
                    "Vote in the poll, or react to it with 1️⃣ 2️⃣ 3️⃣… "
                    "The poll closes at “end” or with !close; results are then posted here. "
                    "“quorum: 50%”: the results say whether half the room's members answered; "
                    "“results: at the end”: apps show the counts only at the close."
                ),
            ),
            Command(
                name="décision",
                aliases=("decision", "consent"),
                handler=commands.decision,
                arguments=read_decision_request,
                summary=N_("propose a decision by consent: adopted unless an objection stands"),
                usage=N_("<text> [; end: <when>] [; quorum: N%]"),
                examples=(N_("decision We adopt the group's charter ; end: friday 6pm"),),
                permission=Permission.EVERYONE,
                details=N_(
                    "React to the decision's message with ✅ agree, 🤷 abstain, 👎 disagree or "
                    "✋ objection, and reply to it with the reason of an objection. It closes at "
                    "“end” or with !close; the result then states the rule and lists the "
                    "objections with their reasons. With “quorum: 50%”, nothing is adopted "
                    "unless half the room's members answered."
                ),
            ),
            Command(
                name="clore",
                aliases=("close",),
                handler=commands.clore,
                arguments=read_poll_id,
                summary=N_("close a poll now and post its results"),
                usage=N_("<poll ID>"),
                examples=(N_("close S2"),),
                permission=Permission.EVERYONE,
                details=N_("The poll's author and organisers can close it."),
            ),
        ],
        hooks=Hooks(
            messages=[intake.on_message],
            polls=[intake.on_poll_event],
            reactions=[intake.on_reaction],
            redactions=[intake.on_redaction],
        ),
        task_kinds=[
            TaskKind(
                name=TASK_KIND,
                fire=timer.fire,
                describe_missed=timer.describe_missed,
                grace=None,  # results are still worth posting after a long downtime
            )
        ],
        sent_hooks=[(SENT_PREFIX, sent_hook(services.outbox))],
    )
