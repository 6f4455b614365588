"""Nudges: 24 hours before a poll or decision closes, one message mentioning the room's members
who have not answered yet, in rooms that asked for it (`!réglages relances on`).

Never more than one per poll (one task, `poll_nudge:S2`, one outbox key); never in a room with
more members than the room's cap; never mentioning someone who opted out (`!pas-de-relance`,
everywhere). The task is planned for every poll closing more than 24 hours ahead and decides
when it fires, so turning nudges on later still covers the polls already open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.runtime.config import BotConfig
from bot.runtime.context import Context
from bot.runtime.kit import FeatureGateway
from bot.runtime.messages import MessageRenderer, ping_content
from bot.runtime.outbox import Outbox
from bot.runtime.room_settings import resolve
from bot.runtime.timers import TaskRun
from bot.text.dates import format_when
from bot.text.i18n import N_
from handlers.polls.results import answered_by
from storage.models import ScheduledTask
from storage.poll_models import Poll
from storage.polls import NudgeOptOutRepository, PollRepository
from storage.rooms import RoomSettingsRepository

log = logging.getLogger(__name__)

NUDGE_KIND = "poll_nudge"
NUDGE_BEFORE = timedelta(hours=24)


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


@dataclass
class Nudger:
    """The `poll_nudge` task: mention who has not answered, if the room wants it."""

    outbox: Outbox
    renderer: MessageRenderer
    gateway: FeatureGateway
    defaults: BotConfig
    bot_user_id: str

    async def fire(self, run: TaskRun) -> None:
        poll_id = run.task.payload.get("poll_id")
        poll = PollRepository(run.session).get(poll_id) if isinstance(poll_id, int) else None
        if poll is None or poll.status != "open" or poll.closes_at is None:
            return
        if (poll.settings or {}).get("anonymous"):
            return  # who voted is not known: no one can be nudged
        stored = RoomSettingsRepository(run.session).get(poll.room_id)
        room = resolve(poll.room_id, stored, self.defaults)
        if not room.nudges:
            return
        try:
            members = await self.gateway.joined_member_ids(poll.room_id)
        except Exception:  # no member list, no nudge: better silent than wrong
            log.warning("no nudge: members unknown", extra={"room_id": poll.room_id})
            return
        members = [m for m in members if m != self.bot_user_id]
        if len(members) > room.nudge_max_members:
            return
        skipped = (
            answered_by(run.session, poll) | NudgeOptOutRepository(run.session).list_user_ids()
        )
        targets = sorted(m for m in members if m not in skipped)
        if not targets:
            return
        rendered = self.renderer.render(
            "polls_nudge",
            room.language,
            poll_id=poll.short_id,
            kind=poll.kind,
            question=poll.question,
            closes=format_when(poll.closes_at, tz=room.tz, language=room.language),
            people=[
                {"user_id": m, "name": self.gateway.display_name(poll.room_id, m)} for m in targets
            ],
        )
        self.outbox.enqueue(
            run.session,
            key=f"pollnudge:{poll.short_id}",
            room_id=poll.room_id,
            content=ping_content(rendered, user_ids=targets),
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
