"""A room's effective settings: its stored overrides over the configured defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.runtime.config import BotConfig
from storage.models import RoomSettings


def pages_allowed(web_pages: bool | None, *, encrypted: bool) -> bool:
    """Whether a room's web pages may be served: as its organisers said (`pages-web`), and
    until they say, only if the room is not encrypted (pages take content out of end-to-end
    encryption)."""
    return (not encrypted) if web_pages is None else web_pages


DEFAULT_EVENT_REMINDERS = "7j, 1j, 1h"
DEFAULT_DEADLINE_REMINDERS = "14j, 7j, 3j, 1j"
DEFAULT_DIGEST_SCHEDULE = "lundi 09:00"
DEFAULT_NUDGES = False  # opt-in: a room asks for nudges with `!réglages relances on`
DEFAULT_NUDGE_MAX_MEMBERS = 100  # no nudge mentions more people than a working group


@dataclass(frozen=True)
class RoomView:
    room_id: str
    language: str
    timezone: str
    organiser_power_level: int
    digest_schedule: str
    digest_room: str
    event_reminders: str
    deadline_reminders: str
    tag_synonyms: dict[str, str] = field(default_factory=dict)
    # the room's web pages: on or off as organisers said; None (unsaid): on unless encrypted
    web_pages: bool | None = None
    nudges: bool = DEFAULT_NUDGES
    nudge_max_members: int = DEFAULT_NUDGE_MAX_MEMBERS

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def resolve(room_id: str, stored: RoomSettings | None, defaults: BotConfig) -> RoomView:
    def pick(value: object, default: object) -> object:
        return default if value is None else value

    stored = stored or RoomSettings(room_id=room_id)
    return RoomView(
        room_id=room_id,
        language=str(pick(stored.language, defaults.language)),
        timezone=str(pick(stored.timezone, defaults.timezone)),
        organiser_power_level=int(
            pick(stored.organiser_power_level, defaults.organiser_power_level)  # type: ignore[call-overload]
        ),
        digest_schedule=str(pick(stored.digest_schedule, DEFAULT_DIGEST_SCHEDULE)),
        digest_room=str(pick(stored.digest_room, defaults.digest_room)),
        event_reminders=str(pick(stored.event_reminders, DEFAULT_EVENT_REMINDERS)),
        deadline_reminders=str(pick(stored.deadline_reminders, DEFAULT_DEADLINE_REMINDERS)),
        tag_synonyms=dict(stored.tag_synonyms or {}),
        web_pages=stored.web_pages,
        nudges=bool(pick(stored.nudges, DEFAULT_NUDGES)),
        nudge_max_members=int(
            pick(stored.nudge_max_members, DEFAULT_NUDGE_MAX_MEMBERS)  # type: ignore[call-overload]
        ),
    )
