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
from handlers.polls.anonymous import (
    AnonymousBallots,
    is_anonymous,
    new_secret,
    read_ballot_request,
)
from handlers.polls.args import (
    DecisionRequest,
    PollRequest,
    WhenRequest,
    parse_decision_request,
    parse_poll_id,
    parse_poll_request,
    parse_when_request,
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
from handlers.polls.nudges import NUDGE_KIND, Nudger, no_nudge, nudge_me, nudge_task_key, plan_nudge
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
        if request.kind != "choice":
            self._start_by_replies(ctx, request)
            return
        if request.anonymous:
            self._start_anonymous(ctx, request)
            return
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

    def _start_anonymous(self, ctx: Context, request: PollRequest) -> None:
        """An anonymous poll: no native poll (its responses are public), ballots by DM."""
        poll = PollRepository(ctx.session).add(
            room_id=ctx.room_id,
            author=ctx.sender,
            question=request.question,
            answers=[(f"a{n}", text) for n, text in enumerate(request.answers, start=1)],
            max_selections=request.max_selections,
            settings=_with_secret(request),
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
            "polls_anonymous_started",
            ctx.language,
            poll_id=poll.short_id,
            question=poll.question,
            answers=[text for _, text in poll.answers],
            max_selections=poll.max_selections,
            closes=closes,
            quorum=request.quorum,
        )
        ctx.send(
            f"{SENT_PREFIX}{poll.short_id}:notice",
            notice_content(rendered, reply_to=ctx.event_id, thread_root=ctx.thread_root),
        )

    def _start_by_replies(self, ctx: Context, request: PollRequest) -> None:
        """A score or ranked poll: no native poll (its semantics do not fit), a message people
        answer by replying to it, and the same closing timer."""
        poll = PollRepository(ctx.session).add(
            room_id=ctx.room_id,
            author=ctx.sender,
            kind=request.kind,
            question=request.question,
            answers=[(f"a{n}", text) for n, text in enumerate(request.answers, start=1)],
            max_selections=1,
            settings=_with_secret(request),
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
            "polls_replies_started",
            ctx.language,
            anonymous=request.anonymous,
            poll_id=poll.short_id,
            kind=poll.kind,
            question=poll.question,
            answers=[text for _, text in poll.answers],
            example=" ".join(str(n) for n in reversed(range(1, len(poll.answers) + 1))),
            closes=closes,
            quorum=request.quorum,
        )
        ctx.send(
            f"{SENT_PREFIX}{poll.short_id}:notice",
            notice_content(rendered, reply_to=ctx.event_id, thread_root=ctx.thread_root),
        )

    async def quand(self, ctx: Context) -> None:
        """A meeting-time poll: each slot answered yes / maybe / no by reply."""
        request: WhenRequest = ctx.arguments
        tz, language = ctx.room.tz, ctx.language
        settings: dict[str, object] = {"slots": [slot.isoformat() for slot in request.slots]}
        if request.quorum is not None:
            settings["quorum"] = request.quorum
        poll = PollRepository(ctx.session).add(
            room_id=ctx.room_id,
            author=ctx.sender,
            kind="when",
            question=request.subject,
            answers=[
                (f"a{n}", format_when(slot, tz=tz, language=language))
                for n, slot in enumerate(request.slots, start=1)
            ],
            max_selections=1,
            settings=settings,
            created_at=ctx.clock.now(),
            closes_at=request.closes_at,
            command_event_id=ctx.event_id,
        )
        _set_closing_timer(ctx, poll)
        closes = format_when(poll.closes_at, tz=tz, language=language) if poll.closes_at else None
        rendered = ctx.renderer.render(
            "polls_replies_started",
            language,
            poll_id=poll.short_id,
            kind=poll.kind,
            anonymous=False,
            question=poll.question,
            answers=[text for _, text in poll.answers],
            example=" ".join(
                ["oui", "non", "peut-être"][n % 3]
                if language == "fr"
                else ["yes", "no", "maybe"][n % 3]
                for n in range(len(poll.answers))
            ),
            closes=closes,
            quorum=request.quorum,
        )
        ctx.send(
            f"{SENT_PREFIX}{poll.short_id}:notice",
            notice_content(rendered, reply_to=ctx.event_id, thread_root=ctx.thread_root),
        )

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


def _with_secret(request: PollRequest) -> dict[str, object]:
    """The poll's settings, with the secret its anonymous ballots are keyed by, if any."""
    settings = request.settings()
    if request.anonymous:
        settings["secret"] = new_secret()
    return settings


def _set_closing_timer(ctx: Context, poll: Poll) -> None:
    """The closing timer, and the nudge a day before (it fires only where nudges are on)."""
    plan_nudge(ctx, poll)
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
    ctx.timers.cancel(ctx.session, nudge_task_key(poll))
    if is_anonymous(poll):
        PollRepository(ctx.session).forget_anonymous_voters(poll)
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


def read_when_request(ctx: Context) -> WhenRequest:
    return parse_when_request(ctx.args, now=ctx.clock.now(), tz=ctx.room.tz, language=ctx.language)


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
    anonymous = AnonymousBallots(services.gateway)
    intake = PollIntake(closer, announce=send_notice, anonymous=anonymous)
    timer = ClosingTimer(closer, services.config.bot)
    nudger = Nudger(
        services.outbox,
        services.renderer,
        services.gateway,
        services.config.bot,
        services.config.matrix.user_id,
    )
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
                    "[; type: score|ranked] [; quorum: N%] [; results: at the end] "
                    "[; anonymous: yes]"
                ),
                examples=(
                    N_("poll Which day for the workshop? ; Tuesday ; Thursday ; end: friday 6pm"),
                    N_("poll Which topics? ; digital ; mobility ; housing ; choices: 2"),
                    N_("poll Our priorities? ; garden ; bikes ; oven ; type: ranked"),
                ),
                permission=Permission.EVERYONE,
                details=N_(
                    "Vote in the poll, or react to it with 1️⃣ 2️⃣ 3️⃣… "
                    "The poll closes at “end” or with !close; results are then posted here. "
                    "“quorum: 50%”: the results say whether half the room's members answered; "
                    "“results: at the end”: apps show the counts only at the close. "
                    "“type: score”: each option rated 0 to 5 by replying to the poll's message; "
                    "“type: ranked”: options ranked by reply, winner by instant-runoff."
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
                name="quand",
                aliases=("when",),
                handler=commands.quand,
                arguments=read_when_request,
                summary=N_("find a meeting time: each slot answered yes, maybe or no"),
                usage=N_("<subject> ; <slot> ; <slot> [; …] [; end: <when>] [; quorum: N%]"),
                examples=(
                    N_("when Next plenary ; tuesday 6pm ; thursday 6:30pm ; end: friday noon"),
                ),
                permission=Permission.EVERYONE,
                details=N_(
                    "Reply to the poll's message with one answer per slot, in order "
                    "(“yes no maybe”), or only some (“1:yes 3:no”). At the close the best slot "
                    "is announced (most yes, then most maybe, then the earliest); an organiser "
                    "turns it into an event with !event from S<n>."
                ),
            ),
            Command(
                name="bulletin",
                aliases=("ballot",),
                handler=anonymous.bulletin,
                arguments=read_ballot_request,
                summary=N_("get a ballot for an anonymous poll, by direct message"),
                usage=N_("<poll ID>"),
                examples=(N_("ballot S3"),),
                permission=Permission.EVERYONE,
                details=N_(
                    "Answer the ballot in the direct message with the poll's ID and your "
                    "choice, e.g. “S3 2”; your latest answer counts until the close. Results "
                    "show no names, and the link between you and your answer is deleted at the "
                    "close."
                ),
            ),
            Command(
                name="pas-de-relance",
                aliases=("no-nudge",),
                handler=no_nudge,
                summary=N_("never be mentioned by nudges, in any room"),
                usage="",
                examples=(N_("no-nudge"),),
                permission=Permission.EVERYONE,
                details=N_(
                    "In rooms that use them, nudges mention, a day before a poll or a decision "
                    "closes, the members who have not answered, and a day before a deadline, "
                    "those who have not posted a proposal. Undo with !nudge-me."
                ),
            ),
            Command(
                name="relance-moi",
                aliases=("nudge-me",),
                handler=nudge_me,
                summary=N_("nudges may mention you again"),
                usage="",
                examples=(N_("nudge-me"),),
                permission=Permission.EVERYONE,
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
            edits=[intake.on_edit],
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
            ),
            TaskKind(
                name=NUDGE_KIND,
                fire=nudger.fire,
                describe_missed=nudger.describe_missed,
                # the default grace: a nudge an hour late still helps, a day late it does not
            ),
        ],
        sent_hooks=[(SENT_PREFIX, sent_hook(services.outbox))],
    )
