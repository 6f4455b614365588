"""The weekly digest as plain data: weeks and slots in a room's timezone, grouping, splitting.

Nothing here touches the database or Matrix, so the rules are tested directly:

- A room's digest is due at its *slot*: its schedule's weekday and time, in its timezone
  (default Monday 09:00). Wall-clock arithmetic is done in local time, so a week that crosses
  a daylight-saving change is 167 or 169 hours long and the slot stays at 09:00.
- A digest is named after the ISO week most of its seven days fall in: the week of
  ``slot - 3½ days``. The Monday 09:00 digest of 15 March 2027 (W11) covers 8–15 March and is
  the digest of 2027-W10; a Friday 17:00 digest covers the week it ends.
- The shared digest of a week gathers the rooms' digests of that week. It goes out once every
  room's digest is in, and at the latest at ``shared_due``: a configured number of hours after
  the week ends, so that one room with a late schedule does not hold back the others.
- A digest covers ``[start, end)``: it starts where the room's previous digest ended (so a
  digest published early by hand loses nothing), or seven local days before its slot when the
  previous one is older than two weeks (or there was none).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

HALF_WEEK = timedelta(days=3, hours=12)
WEEK = timedelta(days=7)
UNTAGGED = ""
SECTIONS = ("proposals", "decisions", "polls_closed", "polls_open", "events", "deadlines")
# A theme with more proposals than this is shown in compact lines (opening words, author,
# supports, link). Ten full proposals (up to 300 characters each) already fill a phone screen
# or two; past that a reader scans the theme rather than reads it, and the link opens the whole
# text. Counted per theme, not measured in bytes, so a theme reads the same way in every part
# and in every room. A compact line is under half a full one (about 350 bytes of event content
# against 850): some 170 fit in one message, so even a very lively theme takes few messages.
COMPACT_AFTER = 10
OPENING_LENGTH = 80  # characters of a compact line's opening words


@dataclass(frozen=True)
class Schedule:
    weekday: int  # Monday = 0
    hour: int
    minute: int


# --- weeks and slots --------------------------------------------------------------------------


def week_label(moment: datetime) -> str:
    """`2027-W10`: the ISO week of a (local) moment."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(label: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00 of an ISO week, in ``tz``, as aware UTC."""
    year, week = label.split("-W")
    monday = datetime.fromisocalendar(int(year), int(week), 1)
    return _to_utc(monday, tz), _to_utc(monday + WEEK, tz)


def previous_week(label: str) -> str:
    year, week = label.split("-W")
    monday = datetime.fromisocalendar(int(year), int(week), 1)
    return week_label(monday - WEEK)


def _to_utc(local_naive: datetime, tz: ZoneInfo) -> datetime:
    return local_naive.replace(tzinfo=tz).astimezone(UTC)


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    """Wall-clock time in ``tz`` without tzinfo (for arithmetic in local days)."""
    return moment.astimezone(tz).replace(tzinfo=None)


def next_slot(after: datetime, schedule: Schedule, tz: ZoneInfo) -> datetime:
    """The first slot strictly after ``after`` (aware UTC in, aware UTC out)."""
    local = _local(after, tz)
    days_ahead = (schedule.weekday - local.weekday()) % 7
    day = (local + timedelta(days=days_ahead)).replace(
        hour=schedule.hour, minute=schedule.minute, second=0, microsecond=0
    )
    candidate = _to_utc(day, tz)
    if candidate <= after:
        candidate = _to_utc(day + WEEK, tz)
    return candidate


def slot_label(slot: datetime, tz: ZoneInfo) -> str:
    """The digest week of a slot: the ISO week most of its seven days fall in."""
    return week_label(_local(slot, tz) - HALF_WEEK)


def local_weeks_before(moment: datetime, tz: ZoneInfo, weeks: int = 1) -> datetime:
    """The same wall-clock time ``weeks`` weeks earlier (DST-safe)."""
    return _to_utc(_local(moment, tz) - weeks * WEEK, tz)


def shared_due(label: str, wait_hours: int, tz: ZoneInfo) -> datetime:
    """When the shared digest of a week stops waiting for late rooms: ``wait_hours`` of
    wall-clock time after the week ends (Monday 00:00 in ``tz``; 12 is Monday 12:00)."""
    year, week = label.split("-W")
    monday = datetime.fromisocalendar(int(year), int(week), 1)
    return _to_utc(monday + WEEK + timedelta(hours=wait_hours), tz)


def period_start(slot: datetime, tz: ZoneInfo, previous_end: datetime | None) -> datetime:
    """Where a digest due at ``slot`` starts: the previous digest's end if recent, else a week."""
    week_before = local_weeks_before(slot, tz)
    if previous_end is not None and local_weeks_before(slot, tz, 2) < previous_end < slot:
        return previous_end
    return week_before


# --- the model --------------------------------------------------------------------------------


def opening_words(text: str, limit: int = OPENING_LENGTH) -> str:
    """The first words of a text, cut at a word boundary and ended with « … » when cut."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    space = flat.rfind(" ", 0, limit + 1)
    head = flat[:space] if space > 0 else flat[: limit - 1]
    return head.rstrip(" ,;:.!?—–-…") + "…"


@dataclass(frozen=True)
class ProposalLine:
    id: str
    text: str
    author: str
    supports: int
    link: str
    retained: bool = False

    @cached_property
    def opening(self) -> str:
        """What a compact line shows of the text (worked out once: splitting renders a line
        several times)."""
        return opening_words(self.text)


@dataclass(frozen=True)
class NewProposal:
    """A proposal of the period with what grouping needs: canonical tags and creation order."""

    line: ProposalLine
    tags: tuple[str, ...]  # canonical folded tags, synonyms applied
    created_at: datetime


@dataclass(frozen=True)
class TagGroup:
    tag: str  # display spelling without '#', or UNTAGGED
    proposals: tuple[ProposalLine, ...]  # all of them, or a slice when split across messages
    total: int  # proposals with this tag in the period (the whole group, in every slice)
    compact: bool = False  # more than COMPACT_AFTER proposals: one short line each
    continued: bool = False  # a later part of a group split across messages


@dataclass(frozen=True)
class PollRow:
    text: str
    count: int
    percent: int
    winner: bool


@dataclass(frozen=True)
class PollLine:
    id: str
    question: str
    rows: tuple[PollRow, ...] = ()
    voters: int = 0
    winners: tuple[str, ...] = ()
    closes: str = ""  # open polls: when they close, in words ("" when no end is set)
    members: int | None = None  # closed polls: the room's members at the close, if known
    outcome: str = ""  # decisions: adopted | blocked | no_quorum | no_votes
    objections: int = 0  # decisions: objections standing at the close

    @property
    def participation(self) -> int | None:
        """Voters as a whole percentage of the room's members at the close."""
        if not self.members:
            return None
        return round(100 * self.voters / self.members)


@dataclass(frozen=True)
class AgendaLine:
    id: str
    title: str
    when: str
    going: int = 0
    maybe: int = 0
    not_going: int = 0
    time_left: str = ""


@dataclass(frozen=True)
class Block:
    """One section (or a slice of one) of a digest: the unit messages are split by."""

    kind: str  # one of SECTIONS
    items: tuple[Any, ...]
    continued: bool = False


@dataclass(frozen=True)
class PendingRoom:
    """A room whose digest of the week is still to come when the shared digest goes out."""

    room_id: str
    name: str
    due: str  # when its digest is due, in words


@dataclass
class RoomDigest:
    room_id: str
    room_name: str
    week: str
    start: datetime
    end: datetime
    period: str = ""  # "from … to …" in the room's language, filled by the builder
    new_proposals: int = 0
    groups: list[TagGroup] = field(default_factory=list)
    decisions: list[ProposalLine] = field(default_factory=list)
    polls_closed: list[PollLine] = field(default_factory=list)
    polls_open: list[PollLine] = field(default_factory=list)
    events: list[AgendaLine] = field(default_factory=list)
    deadlines: list[AgendaLine] = field(default_factory=list)
    tag_counts: dict[str, int] = field(default_factory=dict)  # display tag → new proposals

    @property
    def is_empty(self) -> bool:
        return not (self.blocks())

    def blocks(self) -> list[Block]:
        """The non-empty sections, in reading order."""
        sections: list[tuple[str, Sequence[Any]]] = [
            ("proposals", self.groups),
            ("decisions", self.decisions),
            ("polls_closed", self.polls_closed),
            ("polls_open", self.polls_open),
            ("events", self.events),
            ("deadlines", self.deadlines),
        ]
        return [Block(kind, tuple(items)) for kind, items in sections if items]


def _proposal_order(item: NewProposal) -> tuple[int, datetime, str]:
    return (-item.line.supports, item.created_at, item.line.id)


def group_by_tag(proposals: Sequence[NewProposal], displays: Mapping[str, str]) -> list[TagGroup]:
    """Every proposal under each of its tags, most supported first; busiest themes first.

    A proposal with two tags is listed under both (each theme is read on its own); untagged
    proposals come last. Nothing is left out: a large theme gets compact lines instead.
    """
    by_tag: dict[str, list[NewProposal]] = {}
    for item in proposals:
        tags = list(dict.fromkeys(item.tags)) or [UNTAGGED]
        for tag in tags:
            by_tag.setdefault(tag, []).append(item)
    groups = []
    for tag, items in by_tag.items():
        items.sort(key=_proposal_order)
        groups.append(
            (
                tag == UNTAGGED,
                -len(items),
                -sum(i.line.supports for i in items),
                displays.get(tag, tag).casefold(),
                TagGroup(
                    tag=displays.get(tag, tag) if tag != UNTAGGED else UNTAGGED,
                    proposals=tuple(i.line for i in items),
                    total=len(items),
                    compact=len(items) > COMPACT_AFTER,
                ),
            )
        )
    groups.sort(key=lambda entry: entry[:4])
    return [entry[4] for entry in groups]


def tag_counts(groups: Sequence[TagGroup]) -> dict[str, int]:
    return {group.tag: group.total for group in groups if group.tag != UNTAGGED}


# --- splitting into messages ------------------------------------------------------------------

Measure = Callable[[Sequence[Block]], int]


def _lines(block: Block) -> int:
    """What a block can be cut between: proposals for a tag section, else its items."""
    if block.kind == "proposals":
        return sum(len(group.proposals) for group in block.items)
    return len(block.items)


def _cut(block: Block, count: int) -> tuple[Block, Block]:
    """A block's first ``count`` lines, and the rest (marked as continued). A tag group cut in
    two keeps its heading and count in both parts, the second saying it goes on."""
    if block.kind != "proposals":
        return (
            replace(block, items=block.items[:count]),
            Block(block.kind, block.items[count:], continued=True),
        )
    first: list[TagGroup] = []
    rest: list[TagGroup] = []
    left = count
    for group in block.items:
        if left >= len(group.proposals):
            first.append(group)
        elif left > 0:
            first.append(replace(group, proposals=group.proposals[:left]))
            rest.append(replace(group, proposals=group.proposals[left:], continued=True))
        else:
            rest.append(group)
        left -= min(left, len(group.proposals))
    return replace(block, items=tuple(first)), Block(block.kind, tuple(rest), continued=True)


def _most(fits: Callable[[int], bool], total: int, guess: int) -> int:
    """The largest count in ``0..total`` that ``fits`` (true up to some count, false after;
    0 always fits), searched out from ``guess``: by halves below it, by doubling steps above
    it, then by halves in the last interval. A good guess costs two or three tries."""
    if fits(guess):
        low, step = guess, 1
        while low < total and fits(probe := min(low + step, total)):
            low, step = probe, step * 2
        if low == total:
            return total
        high = probe
    else:
        high = guess
        while (low := high // 2) > 0 and not fits(low):
            high = low
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def _fit(block: Block, measure: Measure, size: int, guess: int) -> tuple[int, int]:
    """How many of a block's first lines fit in a message of ``size`` bytes (searched from
    ``guess``), and the size of the message they make (0 when none fits)."""
    sizes = {0: 0}

    def fits(count: int) -> bool:
        sizes[count] = measure([_cut(block, count)[0]])
        return sizes[count] <= size

    count = _most(fits, _lines(block), guess)
    return count, sizes[count]


def split(blocks: Sequence[Block], measure: Measure, limit: int) -> list[list[Block]]:
    """Pack blocks into as few messages as fit in ``limit`` bytes each, in reading order.

    ``measure(blocks)`` is the size of a message made of those blocks (header included). Each
    message is filled in turn: a block that does not fit in what is left is cut (between tag
    groups and between the proposals of a group, or between items) so that its head fills the
    message and the rest starts the next one; a single item that cannot fit alone still gets a
    message of its own. Sizes are added up per block, then every part is measured for real.

    How much of a block fits is searched from a guess: the whole block first, and for the rest
    of a cut block as much as the message before took, so a huge theme is not rendered whole
    again for each of its messages.
    """
    if measure(blocks) <= limit:
        return [list(blocks)]
    base = measure([])
    parts: list[list[Block]] = []
    current: list[Block] = []
    used = base
    pending = [(block, _lines(block)) for block in blocks]  # each with its guess
    while pending:
        block, guess = pending.pop(0)
        total = _lines(block)
        count, size = _fit(block, measure, limit - used + base, min(guess, total))
        if count == 0 and not current:  # its first item is too big for any message: alone
            count, size = 1, measure([_cut(block, 1)[0]])
        if count == total:
            current.append(block)  # all of it is in: there may be room for the next block
            used += size - base
            continue
        if count:
            head, rest = _cut(block, count)
            current.append(head)
            pending.insert(0, (rest, count))
        else:
            pending.insert(0, (block, guess))  # nothing of it fits in what is left
        parts.append(current)
        current, used = [], base
    if current:
        parts.append(current)
    return [piece for part in parts for piece in _refit(part, measure, limit)]


def _refit(part: list[Block], measure: Measure, limit: int) -> list[list[Block]]:
    """Sizes do not add up exactly (shared headings): halve a part that turned out too big."""
    if len(part) < 2 or measure(part) <= limit:
        return [part]
    middle = len(part) // 2
    return _refit(part[:middle], measure, limit) + _refit(part[middle:], measure, limit)
