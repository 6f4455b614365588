"""The digest schedule as organisers write it (`vendredi 17h`, `monday 09:00`, `off`): read by
the settings when it is set, and by the digest when it plans the room's next digest."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.runtime.router import fold
from bot.text.errors import UserError
from bot.text.i18n import N_

OFF_WORDS = {"off", "non", "aucun", "none", "désactivé", "desactive"}
WEEKDAYS = {
    "lundi": 0, "monday": 0, "mardi": 1, "tuesday": 1, "mercredi": 2, "wednesday": 2,
    "jeudi": 3, "thursday": 3, "vendredi": 4, "friday": 4, "samedi": 5, "saturday": 5,
    "dimanche": 6, "sunday": 6,
}  # fmt: skip
WEEKDAY_NAMES = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
TIME_PATTERN = re.compile(r"^(\d{1,2})\s*(?:h|:)\s*(\d{2})?$")


@dataclass(frozen=True)
class DigestSchedule:
    weekday: int  # Monday = 0
    hour: int
    minute: int

    def stored(self) -> str:
        return f"{WEEKDAY_NAMES[self.weekday]} {self.hour:02d}:{self.minute:02d}"


def parse_digest_schedule(text: str) -> DigestSchedule | None:
    """`vendredi 17h`, `monday 09:00` → a schedule; `off` → None; anything else: UserError."""
    words = text.split()
    if len(words) == 1 and fold(words[0]) in {fold(word) for word in OFF_WORDS}:
        return None
    example = N_("Give a day and a time, e.g. {example}, or {off} to turn the digest off.")
    if len(words) != 2 or fold(words[0]) not in WEEKDAYS:
        raise UserError(example, example="résumé vendredi 17h", off="résumé off")
    match = TIME_PATTERN.match(words[1].lower())
    if not match:
        raise UserError(example, example="résumé vendredi 17h", off="résumé off")
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if hour > 23 or minute > 59:
        raise UserError(example, example="résumé vendredi 17h", off="résumé off")
    return DigestSchedule(WEEKDAYS[fold(words[0])], hour, minute)
