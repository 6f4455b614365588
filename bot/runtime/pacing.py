"""Pacing: when each person's command runs — now, a little later in order, or (a flood) not.

Nothing a person types is dropped silently. Per person and room, commands run at once up to
``per_minute`` of them, then one every ``60 / per_minute`` seconds: those over the pace wait
their turn (in the database, so a restart keeps them) and run in the order they were sent; the
person is told once that the bot is catching up. Only a flood — more than ``max_waiting``
commands already waiting, which no person typing produces — is refused, and every refused
command is named in one reply once the flood has stopped, so it can be sent again.

Organisers are not paced in their rooms (they paste whole programmes); for them a flood is more
than ``per_minute + max_waiting`` commands in one minute, what a member could have accepted.

The pace is the generic cell rate algorithm: each person has a theoretical arrival time that
each accepted command pushes one interval further; a command may run ``burst`` intervals ahead
of it, and otherwise waits until it may.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# A flood is reported once no command of it has been refused for this long: one reply for
# the whole flood, which names what was refused.
FLOOD_QUIET = timedelta(seconds=10)
# How many refused commands a report quotes (the count and the time span cover the rest).
QUOTED_REFUSALS = 50
QUOTE_CHARS = 60
# A person is told that the bot is catching up at most once in this time, however often their
# queue empties and fills again during a long paste.
TOLD_AGAIN_AFTER = timedelta(minutes=10)
# Idle people are forgotten once this many are tracked (their state is all defaults again).
TRACKED_PEOPLE = 1000

Person = tuple[str, str]  # (room ID, sender)


class Verdict(enum.Enum):
    NOW = "now"
    WAIT = "wait"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Admission:
    verdict: Verdict
    due_at: datetime | None = None  # WAIT: when the command's turn comes
    first_wait: bool = False  # WAIT: the person should be told that the bot is catching up


@dataclass
class FloodReport:
    """The commands of one person refused in a flood, for the single reply naming them."""

    room_id: str
    sender: str
    first_event_id: str
    first_at: datetime
    last_at: datetime
    count: int = 0
    quotes: list[str] = field(default_factory=list)


@dataclass
class _PersonState:
    arrival: datetime  # theoretical arrival time of the next command at the pace
    waiting: int = 0
    told_at: datetime | None = None
    recent: deque[datetime] = field(default_factory=deque)  # organisers: the last minute


def quote(text: str) -> str:
    """A refused command's opening words, on one line."""
    line = " ".join(text.split())
    if len(line) <= QUOTE_CHARS:
        return line
    cut = line[:QUOTE_CHARS].rsplit(" ", 1)[0] or line[:QUOTE_CHARS]
    return cut + " …"


class Pacer:
    def __init__(self, per_minute: int, max_waiting: int) -> None:
        self.per_minute = per_minute
        self.max_waiting = max_waiting
        self.interval = timedelta(minutes=1) / per_minute
        self.burst = self.interval * (per_minute - 1)
        self._people: dict[Person, _PersonState] = {}
        self._floods: dict[Person, FloodReport] = {}

    def _state(self, person: Person, now: datetime) -> _PersonState:
        state = self._people.get(person)
        if state is None:
            if len(self._people) >= TRACKED_PEOPLE:
                self._forget_idle(now)
            state = self._people[person] = _PersonState(arrival=now)
        return state

    def _forget_idle(self, now: datetime) -> None:
        for person, state in list(self._people.items()):
            told_recently = state.told_at is not None and now - state.told_at < TOLD_AGAIN_AFTER
            if (
                state.waiting == 0
                and state.arrival <= now
                and not state.recent
                and not told_recently
            ):
                del self._people[person]

    def admit(
        self, room_id: str, sender: str, now: datetime, *, organiser: bool = False
    ) -> Admission:
        """Decide when a command just received runs, and count it."""
        person = (room_id, sender)
        state = self._state(person, now)
        if organiser and state.waiting == 0:
            while state.recent and now - state.recent[0] >= timedelta(minutes=1):
                state.recent.popleft()
            if len(state.recent) >= self.per_minute + self.max_waiting:
                return Admission(Verdict.REFUSE)
            state.recent.append(now)
            return Admission(Verdict.NOW)
        arrival = max(state.arrival, now)
        turn = max(now, arrival - self.burst)
        if turn <= now and state.waiting == 0:
            state.arrival = arrival + self.interval
            return Admission(Verdict.NOW)
        if state.waiting >= self.max_waiting:
            return Admission(Verdict.REFUSE)
        state.arrival = arrival + self.interval
        state.waiting += 1
        tell = state.told_at is None or now - state.told_at >= TOLD_AGAIN_AFTER
        if tell:
            state.told_at = now
        return Admission(Verdict.WAIT, due_at=turn, first_wait=tell)

    def restore(self, room_id: str, sender: str, due_at: datetime) -> None:
        """At start: a command still waiting from before keeps its place in the pace."""
        state = self._state((room_id, sender), due_at)
        state.waiting += 1
        state.arrival = max(state.arrival, due_at + self.burst + self.interval)

    def finished(self, room_id: str, sender: str) -> None:
        """A waiting command has run (or was withdrawn by its sender)."""
        state = self._people.get((room_id, sender))
        if state is not None and state.waiting > 0:
            state.waiting -= 1

    # --- floods ---------------------------------------------------------------------------

    def refused(self, room_id: str, sender: str, event_id: str, text: str, now: datetime) -> None:
        """Remember a refused command for the flood's report (a fixed amount per person)."""
        person = (room_id, sender)
        report = self._floods.get(person)
        if report is None:
            report = self._floods[person] = FloodReport(room_id, sender, event_id, now, now)
        report.count += 1
        report.last_at = now
        if len(report.quotes) < QUOTED_REFUSALS:
            report.quotes.append(quote(text))

    def floods_over(self, now: datetime) -> list[FloodReport]:
        """Reports of the floods that have stopped; each is handed out once."""
        over = [r for r in self._floods.values() if now - r.last_at >= FLOOD_QUIET]
        for report in over:
            del self._floods[(report.room_id, report.sender)]
        return over

    def next_flood_report_at(self) -> datetime | None:
        if not self._floods:
            return None
        return min(report.last_at for report in self._floods.values()) + FLOOD_QUIET
