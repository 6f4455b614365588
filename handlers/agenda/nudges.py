"""Deadline nudges: 24 hours before a deadline (`!échéance`), in rooms that asked for nudges
(`!réglages relances on`), one message mentioning the members who have not posted a proposal
since the deadline was announced.

Planned when the deadline is announced in a room whose nudges are on. Same rules as the polls'
nudges: once per deadline (task `reminder:D3:nudge`, cancelled with
the deadline's reminders by `!annuler D3`), never above the room's member cap, never mentioning
someone who opted out (`!pas-de-relance`).
"""

from __future__ import annotations

from datetime import datetime

from bot.runtime.context import Context
from bot.runtime.timers import TaskRun
from bot.text.dates import format_when
from bot.text.i18n import N_
from handlers.shared.nudges import NUDGE_BEFORE, NudgeSender
from storage.agenda import AgendaRepository
from storage.agenda_models import AgendaItem
from storage.models import ScheduledTask
from storage.proposals import ProposalRepository

DEADLINE_NUDGE_KIND = "deadline_nudge"


def plan_deadline_nudge(
    ctx: Context, item: AgendaItem, label: str, now: datetime, *, stamp: str = ""
) -> None:
    """Plan the deadline's nudge, if it is more than 24 hours away (``stamp``: the new start
    of a deadline moved, as for its reminders)."""
    if item.starts_at - NUDGE_BEFORE <= now:
        return
    ctx.timers.add(
        ctx.session,
        key=f"reminder:{label}:{stamp}nudge",
        reopen=True,
        kind=DEADLINE_NUDGE_KIND,
        room_id=item.room_id,
        due_at=item.starts_at - NUDGE_BEFORE,
        payload={"item_id": item.id, "label": label},
    )


class DeadlineNudger(NudgeSender):
    """The `deadline_nudge` task: mention who has not posted a proposal, if the room wants it."""

    async def fire(self, run: TaskRun) -> None:
        item_id, label = run.task.payload.get("item_id"), run.task.payload.get("label")
        if not isinstance(item_id, int) or not isinstance(label, str):
            return
        item = AgendaRepository(run.session).get(item_id)
        if item is None or item.status != "active":
            return
        room, targets = await self.targets(
            run.session,
            item.room_id,
            lambda: ProposalRepository(run.session).list_authors_since(
                item.room_id, item.created_at
            ),
        )
        if not targets:
            return
        self.send(
            run.session,
            key=f"deadlinenudge:{label}",
            room_id=item.room_id,
            targets=targets,
            template="events_deadline_nudge",
            language=room.language,
            item_id=label,
            title=item.title,
            when=format_when(item.starts_at, tz=room.tz, language=room.language),
        )

    def describe_missed(self, task: ScheduledTask, language: str) -> str:
        return self.renderer.text(
            language,
            N_("The nudge before deadline {id} was not sent on time."),
            id=task.payload.get("label"),
        ).body
