"""`!clore` / `!close` (close a poll now and post its results) and the `S` canceller of
`!annuler S2` (cancel it, no results): both for the poll's author or an organiser."""

from __future__ import annotations

from bot.runtime.context import Context
from bot.runtime.kit import RedactionRights
from bot.text.dates import format_when
from bot.text.errors import UserError
from bot.text.i18n import N_
from handlers.polls.anonymous import is_anonymous
from handlers.polls.args import parse_poll_id
from handlers.polls.closing import Closer, close_task_key, end_event_key
from handlers.polls.events import UNSTABLE_END, build_poll_end
from handlers.polls.nudges import nudge_task_key
from storage.poll_models import Poll
from storage.polls import PollRepository

MSG_MAY_NOT_CLOSE = N_(
    "Only the author of poll {poll} or an organiser (power level {level} or more) can close it."
)
MSG_MAY_NOT_CANCEL = N_(
    "Only the author of poll {poll} or an organiser (power level {level} or more) can cancel it."
)


def read_poll_id(ctx: Context) -> int:
    """`!clore` arguments: the poll's ID (`S2`, `2`); only the first word counts
    (`!clore S2 merci`)."""
    words = ctx.args.split()
    return parse_poll_id(words[0] if words else "")


class CloseCommand:
    """`!clore`, sharing one Closer with the intake and the timer."""

    def __init__(self, closer: Closer, gateway: RedactionRights) -> None:
        self.closer = closer
        self.gateway = gateway

    async def clore(self, ctx: Context) -> None:
        """Close a poll now (author or organisers) and post its results."""
        poll = await _open_poll_for_author(ctx, ctx.arguments, MSG_MAY_NOT_CLOSE)
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


async def cancel_poll(ctx: Context, poll_id: int) -> None:
    """Cancel poll ``poll_id`` (`!annuler S2`: 2): author or organisers; no results posted.

    Refusals raise UserError; on success the poll is marked cancelled, its closing timer is
    cancelled, clients are told it ended (bot polls), and the command gets a confirmation.
    """
    poll = await _open_poll_for_author(ctx, poll_id, MSG_MAY_NOT_CANCEL)
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


async def _open_poll_for_author(ctx: Context, poll_id: int, refusal: str) -> Poll:
    """The room's open poll ``poll_id``, if the sender is its author or an organiser."""
    poll = PollRepository(ctx.session).get_in_room(ctx.room_id, poll_id)
    if poll is None:
        raise UserError(N_("There is no poll S{id} in this room."), id=poll_id)
    if poll.author != ctx.sender and not await ctx.is_organiser():
        raise UserError(refusal, poll=poll.short_id, level=ctx.room.organiser_power_level)
    if poll.status != "open":
        _refuse_finished(ctx, poll)
    return poll


def _refuse_finished(ctx: Context, poll: Poll) -> None:
    when = (
        format_when(poll.closed_at, tz=ctx.room.tz, language=ctx.language)
        if poll.closed_at
        else "?"
    )
    if poll.status == "cancelled":
        raise UserError(N_("Poll {poll} was cancelled ({when})."), poll=poll.short_id, when=when)
    raise UserError(N_("Poll {poll} is already closed ({when})."), poll=poll.short_id, when=when)
