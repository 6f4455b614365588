"""Reminders of events and deadlines: one message per room for the reminders due together.

Each reminder is a timer task (`reminder:E7:1d`). When several fall due at the same moment in
one room (two deadlines on the same evening, or a backlog after downtime), they go out as one
m.text listing them (a message lists at most ``MAX_PER_MESSAGE``, pings at most
``MAX_MENTIONS`` people and stays under the event size limit): a room should not receive a burst
of pings, and the homeserver persists one message far faster than a hundred. A reminder alone
replies to its announcement. Mentions are the ✅ people of the events listed (deadlines ping
nobody). The outbox key is `task:<key of the first reminder of the message>`, so a message is
sent exactly once even across crashes: the tasks are marked done in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.runtime.context import Context
from bot.runtime.kit import Services
from bot.runtime.messages import MAX_EVENT_BYTES, content_bytes, ping_content
from bot.runtime.room_settings import RoomView, resolve
from bot.runtime.timers import TaskRun
from bot.text.dates import format_duration, format_offset, format_when
from bot.text.recurrence import describe_days, utc
from handlers.agenda import series
from handlers.agenda.args import PlannedReminder, label
from handlers.agenda.view import item_fields
from storage.agenda import DEADLINE, EVENT, AgendaRepository
from storage.agenda_models import AgendaItem
from storage.models import ScheduledTask
from storage.rooms import RoomSettingsRepository

REMINDER_KINDS = {EVENT: "event_reminder", DEADLINE: "deadline_reminder"}
MAX_MENTIONS = 50
MAX_PER_MESSAGE = 20  # more than this at once reads as a wall: the rest follow in more messages


@dataclass
class Due:
    """One reminder about to be sent: its task, its item and the people it pings."""

    task: ScheduledTask
    item: AgendaItem
    people: list[dict[str, str]]
    late: timedelta | None
    # one occurrence of a recurring event: when it happens, and its name (original start)
    starts_at: datetime | None = None
    occurs_at: datetime | None = None

    @property
    def start(self) -> datetime:
        return self.starts_at or self.item.starts_at


def plan_item_reminders(
    ctx: Context, item: AgendaItem, planned: list[PlannedReminder], *, stamp: str = ""
) -> None:
    """A one-off item's reminder timers: `reminder:E7:1d`; for an item moved, ``stamp`` is
    its new start (`reminder:E7:20260619T1600:1d`), so a reminder sent for the old date is
    sent again for the new one, and one planned for a date moved back to comes back."""
    for reminder in planned:
        ctx.timers.add(
            ctx.session,
            key=f"reminder:{label(item)}:{stamp}{reminder.key_suffix}",
            kind=REMINDER_KINDS[item.kind],
            room_id=item.room_id,
            due_at=reminder.due_at,
            payload={
                "item_id": item.id,
                "label": label(item),
                "title": item.title,
                "offset_minutes": int(reminder.offset.total_seconds() // 60),
                "starts_at": item.starts_at.isoformat(),
                "timezone": item.timezone,
            },
            reopen=True,
        )


class Reminders:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def fire(self, run: TaskRun) -> None:
        await self.fire_together([run])

    async def fire_together(self, runs: list[TaskRun]) -> None:
        """Send the reminders due together in one room, skipping cancelled or deleted items."""
        if not runs:
            return
        session, room_id = runs[0].session, runs[0].task.room_id
        repository = AgendaRepository(session)
        due: list[Due] = []
        for run in runs:
            item = repository.get(int(run.task.payload.get("item_id", 0)))
            if item is None or item.status != "active" or item.id is None:
                continue
            starts_at, occurs_at = _occurrence(run.task)
            if item.recurrence:
                # the series' next reminder, planned now so the timer always holds one
                series.arm(
                    session,
                    self.services.timers,
                    item,
                    after=(run.task.due_at, starts_at or item.starts_at),
                    firing=run.task.key,
                )
                if occurs_at is None or not self._still_planned(repository, item, run.task):
                    continue
            going = repository.going(item.id, occurs_at) if item.kind == EVENT else []
            people = [
                {"user_id": user, "name": self.services.gateway.display_name(room_id, user)}
                for user in going[:MAX_MENTIONS]
            ]
            late = run.late if run.is_late else None
            due.append(Due(run.task, item, people, late, starts_at, occurs_at))
        room = resolve(
            room_id, RoomSettingsRepository(session).get(room_id), self.services.config.bot
        )
        now = self.services.clock.now()
        for batch, content in self._messages(due, room, now):
            key = f"task:{batch[0].task.key}"
            self.services.outbox.enqueue(session, key=key, room_id=room_id, content=content)
            first = batch[0]
            if len(batch) == 1 and first.occurs_at is not None and first.item.id is not None:
                # reactions on this reminder answer for this occurrence only
                repository.add_occurrence_message(key, first.item.id, first.occurs_at)

    def _still_planned(
        self, repository: AgendaRepository, item: AgendaItem, task: ScheduledTask
    ) -> bool:
        """The occurrence a series' reminder is about still happens at the time it names."""
        assert item.id is not None
        starts_at, _ = _occurrence(task)
        exceptions = repository.exceptions(item.id)
        return any(
            occurrence.starts_at == starts_at
            for occurrence in series.schedule(
                item,
                exceptions,
                after=starts_at - timedelta(seconds=1) if starts_at else None,
                before=starts_at + timedelta(seconds=1) if starts_at else None,
            )
        )

    def _messages(
        self, due: list[Due], room: RoomView, now: datetime
    ) -> list[tuple[list[Due], dict[str, Any]]]:
        """The reminders gathered into messages, in order: a message lists at most
        ``MAX_PER_MESSAGE`` of them, pings at most ``MAX_MENTIONS`` people (so everyone coming
        to each event listed is pinged) and stays under the event size limit."""
        messages: list[tuple[list[Due], dict[str, Any]]] = []
        for reminder in due:
            if messages:
                together = [*messages[-1][0], reminder]
                if len(together) <= MAX_PER_MESSAGE and len(_mentioned(together)) <= MAX_MENTIONS:
                    content = reminders_content(self.services, together, room, now=now)
                    if content_bytes(content) <= MAX_EVENT_BYTES:
                        messages[-1] = (together, content)
                        continue
            messages.append(
                ([reminder], reminders_content(self.services, [reminder], room, now=now))
            )
        return messages

    def describe_missed(self, task: ScheduledTask, language: str) -> str:
        payload = task.payload
        translator = self.services.translations.for_language(language)
        try:
            tz = ZoneInfo(str(payload.get("timezone") or "UTC"))
            starts_at = datetime.fromisoformat(str(payload["starts_at"])).astimezone(UTC)
            when = format_when(starts_at, tz=tz, language=language)
        except (KeyError, ValueError):
            when = "?"
        offset = timedelta(minutes=int(payload.get("offset_minutes", 0)))
        return translator.render(
            "reminder {offset} before {id} “{title}” ({when})",
            offset=format_offset(offset, language=language),
            id=payload.get("label", "?"),
            title=payload.get("title", ""),
            when=when,
        )


def _occurrence(task: ScheduledTask) -> tuple[datetime | None, datetime | None]:
    """The start and the name of the occurrence a series' reminder is about (else None)."""
    payload = task.payload
    if "occurs_at" not in payload:
        return None, None
    starts_at = utc(datetime.fromisoformat(str(payload["starts_at"])))
    return starts_at, utc(datetime.fromisoformat(str(payload["occurs_at"])))


def reminders_content(
    services: Services, due: list[Due], room: RoomView, *, now: datetime
) -> dict[str, Any]:
    """The message for reminders due together: an m.text that pings the ✅ people of events."""
    language, tz = room.language, room.tz
    entries = []
    for reminder in due:
        item = reminder.item
        # A reminder fires a few seconds after its due time: round so "1h" reads "1 heure".
        remaining = timedelta(minutes=round((reminder.start - now).total_seconds() / 60))
        rule = series.rule_of(item)
        entries.append(
            {
                **item_fields(item, tz=tz, language=language),
                "when": format_when(reminder.start, tz=tz, language=language),
                "repeats": describe_days(rule, language=language) if rule else "",
                "countdown": format_duration(remaining, language=language),
                "started": remaining <= timedelta(0),
                "people": reminder.people,
                "going": len(reminder.people),
            }
        )
    lateness = [reminder.late for reminder in due if reminder.late is not None]
    rendered = services.renderer.render(
        "events_reminder",
        language,
        reminders=entries,
        late=format_duration(max(lateness), language=language) if lateness else "",
    )
    content = ping_content(rendered, user_ids=_mentioned(due)[:MAX_MENTIONS])
    if len(due) == 1 and due[0].item.announcement_event_id and due[0].occurs_at is None:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": due[0].item.announcement_event_id}}
    return content


def _mentioned(due: list[Due]) -> list[str]:
    """Everyone the reminders ping, once each, in order."""
    return list(dict.fromkeys(person["user_id"] for reminder in due for person in reminder.people))
