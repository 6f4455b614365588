"""Nudges: 24 hours before a poll or decision closes, one message mentioning the room's members
who have not answered yet, in rooms that asked for it (`!réglages relances on`).

Never more than one per poll (one task, `poll_nudge:S2`, one outbox key); never in a room with
more members than the room's cap; never mentioning someone who opted out (`!pas-de-relance`,
everywhere). The task is planned for every poll closing more than 24 hours ahead and decides
when it fires, so turning nudges on later still covers the polls already open.
"""

from __future__ import annotations

from bot.runtime.context import Context
from bot.runtime.timers import TaskRun
from bot.text.dates import format_when
from bot.text.i18n import N_
from handlers.polls.results import answered_by
from handlers.shared.nudges import NUDGE_BEFORE, NudgeSender
from storage.models import ScheduledTask
from storage.poll_models import Poll
from storage.polls import NudgeOptOutRepository, PollRepository

NUDGE_KIND = "poll_nudge"


def nudge_task_key(poll: Poll) -> str:
    return f"{NUDGE_KIND}:{poll.short_id}"


def plan_nudge(ctx: Context, poll: Poll) -> None:
    """Plan the poll's nudge, if it closes more than 24 hours from now."""
    if poll.closes_at is None or poll.closes_at - NUDGE_BEFORE <= ctx.clock.now():
        return
    ctx.timers.add(
        ctx.session,
        key=nudge_task_key(poll),
        kind=NUDGE_KIND,
        room_id=poll.room_id,
        due_at=poll.closes_at - NUDGE_BEFORE,
        payload={"poll_id": poll.id},
    )


class Nudger(NudgeSender):
    """The `poll_nudge` task: mention who has not answered, if the room wants it."""

    async def fire(self, run: TaskRun) -> None:
        poll_id = run.task.payload.get("poll_id")
        poll = PollRepository(run.session).get(poll_id) if isinstance(poll_id, int) else None
        if poll is None or poll.status != "open" or poll.closes_at is None:
            return
        if (poll.settings or {}).get("anonymous"):
            return  # who voted is not known: no one can be nudged
        room, targets = await self.targets(
            run.session, poll.room_id, lambda: answered_by(run.session, poll)
        )
        if not targets:
            return
        self.send(
            run.session,
            key=f"pollnudge:{poll.short_id}",
            room_id=poll.room_id,
            targets=targets,
            template="polls_nudge",
            language=room.language,
            poll_id=poll.short_id,
            kind=poll.kind,
            question=poll.question,
            closes=format_when(poll.closes_at, tz=room.tz, language=room.language),
        )

    def describe_missed(self, task: ScheduledTask, language: str) -> str:
        return self.renderer.text(
            language,
            N_("The reminder to answer S{id} before it closes was not sent on time."),
            id=task.payload.get("poll_id"),
        ).body


async def no_nudge(ctx: Context) -> None:
    """`!pas-de-relance`: never mentioned by nudges again, in any room."""
    if NudgeOptOutRepository(ctx.session).add(ctx.sender, ctx.clock.now()):
        ctx.reply(
            N_("Nudges will no longer mention you, in any room. To undo: {command}"),
            command="!relance-moi",
        )
    else:
        ctx.reply(
            N_("Nudges already do not mention you. To undo: {command}"), command="!relance-moi"
        )


async def nudge_me(ctx: Context) -> None:
    """`!relance-moi`: nudges may mention you again."""
    if NudgeOptOutRepository(ctx.session).delete(ctx.sender):
        ctx.reply(N_("Nudges may mention you again, in rooms that use them."))
    else:
        ctx.reply(N_("Nudges may already mention you, in rooms that use them."))
