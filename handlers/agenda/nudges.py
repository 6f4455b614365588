"""Deadline nudges: 24 hours before a deadline (`!échéance`), in rooms that asked for nudges
(`!réglages relances on`), one message mentioning the members who have not posted a proposal
since the deadline was announced.

Planned when the deadline is announced in a room whose nudges are on. Same rules as the polls'
nudges: once per deadline (task `reminder:D3:nudge`, cancelled with
the deadline's reminders by `!annuler D3`), never above the room's member cap, never mentioning
someone who opted out (`!pas-de-relance`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.runtime.config import BotConfig
from bot.runtime.context import Context
from bot.runtime.kit import FeatureGateway
from bot.runtime.messages import MessageRenderer, ping_content
from bot.runtime.outbox import Outbox
from bot.runtime.room_settings import resolve
from bot.runtime.timers import TaskRun
from bot.text.dates import format_when
from bot.text.i18n import N_
from storage.agenda import AgendaRepository
from storage.agenda_models import AgendaItem
from storage.models import ScheduledTask
from storage.polls import NudgeOptOutRepository
from storage.proposals import ProposalRepository
from storage.rooms import RoomSettingsRepository

log = logging.getLogger(__name__)

DEADLINE_NUDGE_KIND = "deadline_nudge"
NUDGE_BEFORE = timedelta(hours=24)


def plan_deadline_nudge(ctx: Context, item: AgendaItem, label: str, now: datetime) -> None:
    """Plan the deadline's nudge, if it is more than 24 hours away."""
    if item.starts_at - NUDGE_BEFORE <= now:
        return
    ctx.timers.add(
        ctx.session,
        key=f"reminder:{label}:nudge",
        kind=DEADLINE_NUDGE_KIND,
        room_id=item.room_id,
        due_at=item.starts_at - NUDGE_BEFORE,
        payload={"item_id": item.id, "label": label},
    )


@dataclass
class DeadlineNudger:
    outbox: Outbox
    renderer: MessageRenderer
    gateway: FeatureGateway
    defaults: BotConfig
    bot_user_id: str

    async def fire(self, run: TaskRun) -> None:
        item_id, label = run.task.payload.get("item_id"), run.task.payload.get("label")
        if not isinstance(item_id, int) or not isinstance(label, str):
            return
        item = AgendaRepository(run.session).get(item_id)
        if item is None or item.status != "active":
            return
        room = resolve(
            item.room_id, RoomSettingsRepository(run.session).get(item.room_id), self.defaults
        )
        if not room.nudges:
            return
        try:
            members = await self.gateway.joined_member_ids(item.room_id)
        except Exception:  # no member list, no nudge: better silent than wrong
            log.warning("no deadline nudge: members unknown", extra={"room_id": item.room_id})
            return
        members = [m for m in members if m != self.bot_user_id]
        if len(members) > room.nudge_max_members:
            return
        contributed = ProposalRepository(run.session).list_authors_since(
            item.room_id, item.created_at
        )
        skipped = contributed | NudgeOptOutRepository(run.session).list_user_ids()
        targets = sorted(m for m in members if m not in skipped)
        if not targets:
            return
        rendered = self.renderer.render(
            "events_deadline_nudge",
            room.language,
            item_id=label,
            title=item.title,
            when=format_when(item.starts_at, tz=room.tz, language=room.language),
            people=[
                {"user_id": m, "name": self.gateway.display_name(item.room_id, m)} for m in targets
            ],
        )
        self.outbox.enqueue(
            run.session,
            key=f"deadlinenudge:{label}",
            room_id=item.room_id,
            content=ping_content(rendered, user_ids=targets),
        )

    def describe_missed(self, task: ScheduledTask, language: str) -> str:
        return self.renderer.text(
            language,
            N_("The nudge before deadline {id} was not sent on time."),
            id=task.payload.get("label"),
        ).body
