"""The digest's pure rules: slots and weeks in the room's timezone, DST, grouping, splitting."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from handlers.digest.model import (
    COMPACT_AFTER,
    OPENING_LENGTH,
    Block,
    NewProposal,
    ProposalLine,
    RoomDigest,
    Schedule,
    TagGroup,
    group_by_tag,
    next_slot,
    opening_words,
    period_start,
    shared_due,
    slot_label,
    split,
    week_bounds,
)

PARIS = ZoneInfo("Europe/Paris")
MONDAY_9 = Schedule(0, 9, 0)
FRIDAY_17 = Schedule(4, 17, 0)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_digest_model_next_slot_is_in_the_room_timezone():
    # Wednesday 10 March 2027, 12:00 UTC → Monday 15 March 09:00 Paris (CET) = 08:00 UTC
    assert next_slot(utc(2027, 3, 10, 12), MONDAY_9, PARIS) == utc(2027, 3, 15, 8)
    cayenne = ZoneInfo("America/Cayenne")
    assert next_slot(utc(2027, 3, 10, 12), MONDAY_9, cayenne) == utc(2027, 3, 15, 12)
    # exactly at the slot: the next one is a week later
    assert next_slot(utc(2027, 3, 15, 8), MONDAY_9, PARIS) == utc(2027, 3, 22, 8)
    # later the same day as the slot
    assert next_slot(utc(2027, 3, 15, 9), MONDAY_9, PARIS) == utc(2027, 3, 22, 8)


def test_digest_model_slot_stays_at_local_time_across_dst_weeks():
    # Europe/Paris moves to summer time on Sunday 28 March 2027
    before = next_slot(utc(2027, 3, 20), MONDAY_9, PARIS)
    after = next_slot(before, MONDAY_9, PARIS)
    assert before == utc(2027, 3, 22, 8)  # 09:00 CET
    assert after == utc(2027, 3, 29, 7)  # 09:00 CEST
    assert after - before == timedelta(hours=167)
    assert period_start(after, PARIS, None) == before  # the DST week is 167 hours long
    # and back to winter time on 31 October 2027: a 169-hour week
    autumn = next_slot(utc(2027, 10, 30), MONDAY_9, PARIS)
    assert autumn == utc(2027, 11, 1, 8)
    assert autumn - period_start(autumn, PARIS, None) == timedelta(hours=169)


def test_digest_model_week_label_is_the_week_most_days_fall_in():
    monday = next_slot(utc(2027, 3, 10), MONDAY_9, PARIS)  # Monday 15 March = W11
    assert slot_label(monday, PARIS) == "2027-W10"  # covers 8–15 March
    friday = next_slot(utc(2027, 3, 10), FRIDAY_17, PARIS)  # Friday 12 March = W10
    assert slot_label(friday, PARIS) == "2027-W10"
    # year boundary: Monday 4 January 2027 covers 28 December – 4 January (2026-W53)
    january = next_slot(utc(2027, 1, 1), MONDAY_9, PARIS)
    assert slot_label(january, PARIS) == "2026-W53"


def test_digest_model_week_label_uses_local_time_not_utc():
    # Monday 00:30 in Tokyo is still Sunday in UTC
    tokyo = ZoneInfo("Asia/Tokyo")
    slot = next_slot(utc(2027, 3, 10), Schedule(0, 0, 30), tokyo)
    assert slot == utc(2027, 3, 14, 15, 30)
    assert slot_label(slot, tokyo) == "2027-W10"


def test_digest_model_period_continues_from_an_early_publication():
    slot = utc(2027, 3, 15, 8)
    published = utc(2027, 3, 10, 15)  # by hand on Wednesday
    assert period_start(slot, PARIS, published) == published
    # an old previous digest: only the last week
    assert period_start(slot, PARIS, utc(2027, 1, 1)) == utc(2027, 3, 8, 8)
    # a skipped week is still covered (up to two weeks)
    assert period_start(slot, PARIS, utc(2027, 3, 2, 8)) == utc(2027, 3, 2, 8)


def test_digest_model_week_bounds_are_local_mondays():
    start, end = week_bounds("2027-W13", PARIS)  # Monday 29 March, after the DST change
    assert start == utc(2027, 3, 28, 22) and end == utc(2027, 4, 4, 22)
    start, _ = week_bounds("2027-W12", PARIS)
    assert start == utc(2027, 3, 21, 23)  # Monday 22 March 00:00 CET


def proposal(pid: int, supports: int, tags: tuple[str, ...], minute: int = 0) -> NewProposal:
    return NewProposal(
        line=ProposalLine(f"P{pid}", f"text {pid}", "Alice", supports, f"https://x/{pid}"),
        tags=tags,
        created_at=utc(2027, 3, 10, 12, minute),
    )


def test_digest_model_groups_by_tag_most_supported_first():
    groups = group_by_tag(
        [
            proposal(1, 0, ("numerique",), 1),
            proposal(2, 5, ("numerique", "ess"), 2),
            proposal(3, 1, (), 3),
            proposal(4, 2, ("numerique",), 4),
            proposal(5, 2, ("numerique",), 0),
            proposal(6, 9, ("ess",), 5),
        ],
        {"numerique": "numérique", "ess": "ESS"},
    )
    assert [(g.tag, g.total) for g in groups] == [("numérique", 4), ("ESS", 2), ("", 1)]
    # most supported first; equal supports: oldest first
    assert [p.id for p in groups[0].proposals] == ["P2", "P5", "P4", "P1"]
    assert [p.id for p in groups[1].proposals] == ["P6", "P2"]
    assert [p.id for p in groups[2].proposals] == ["P3"]


def test_digest_model_large_theme_keeps_every_proposal_in_compact_lines():
    groups = group_by_tag(
        [proposal(i, i, ("a",)) for i in range(30)] + [proposal(99, 0, ("b",))], {}
    )
    assert groups[0].total == 30 and len(groups[0].proposals) == 30
    assert groups[0].proposals[0].id == "P29"
    assert groups[0].compact and not groups[1].compact


def test_digest_model_compact_from_just_over_the_threshold():
    at_threshold = group_by_tag([proposal(i, 0, ("a",)) for i in range(COMPACT_AFTER)], {})
    over = group_by_tag([proposal(i, 0, ("a",)) for i in range(COMPACT_AFTER + 1)], {})
    assert not at_threshold[0].compact and over[0].compact


def test_digest_model_opening_words_cut_at_a_word_boundary():
    text = "Ouvrir un tiers-lieu numérique dans chaque canton, " + "avec des ateliers " * 20
    opening = opening_words(text)
    assert opening.endswith("…") and len(opening) <= OPENING_LENGTH
    assert text.startswith(opening[:-1])
    assert text[len(opening) - 1] == " "  # the last word shown is whole
    assert opening_words("  Des bus\n le dimanche  ") == "Des bus le dimanche"  # short: whole
    assert opening_words("x" * 200) == "x" * (OPENING_LENGTH - 1) + "…"  # one endless word
    # punctuation before the cut is dropped: « canton… », not « canton,… »
    assert (
        opening_words("Un tiers-lieu par canton, et des ateliers", 26)
        == "Un tiers-lieu par canton…"
    )


def test_digest_model_empty_week():
    digest = RoomDigest("!r:x", "Room", "2027-W10", utc(2027, 3, 8), utc(2027, 3, 15))
    assert digest.is_empty and digest.blocks() == []


def fake_measure(blocks):
    """100 bytes of header + 10 per proposal line + 30 per other item."""
    size = 100
    for block in blocks:
        for item in block.items:
            size += 10 * len(item.proposals) if isinstance(item, TagGroup) else 30
    return size


def test_digest_model_small_digest_is_one_part():
    blocks = [
        Block("proposals", (TagGroup("a", tuple(proposal(1, 0, ()).line for _ in range(3)), 3),))
    ]
    assert split(blocks, fake_measure, 1000) == [blocks]


def test_digest_model_splitting_by_section_and_inside_a_big_tag():
    lines = tuple(proposal(i, 0, ()).line for i in range(50))
    blocks = [
        Block("proposals", (TagGroup("a", lines[:10], 10), TagGroup("b", lines, 50))),
        Block("polls_closed", tuple(range(5))),
        Block("events", tuple(range(3))),
    ]
    parts = split(blocks, fake_measure, 400)
    assert len(parts) > 1
    assert all(fake_measure(part) <= 400 for part in parts)
    # reading order and nothing lost
    shown = [
        p.id
        for part in parts
        for block in part
        if block.kind == "proposals"
        for group in block.items
        for p in group.proposals
    ]
    assert shown == [p.id for p in lines[:10]] + [p.id for p in lines]
    kinds = [block.kind for part in parts for block in part]
    assert kinds.index("events") > kinds.index("polls_closed") > kinds.index("proposals")
    # a group cut across messages says so
    continued = [g for part in parts for b in part for g in b.items if isinstance(g, TagGroup)]
    assert any(g.continued and g.tag == "b" for g in continued)
    assert sum(len(g.proposals) for g in continued if g.tag == "b") == 50  # nothing left out


def test_digest_model_one_huge_theme_is_split_across_many_messages():
    lines = tuple(proposal(i, 0, ()).line for i in range(400))
    blocks = [Block("proposals", (TagGroup("a", lines, 400, compact=True),))]
    parts = split(blocks, fake_measure, 500)
    assert len(parts) >= 10
    assert all(fake_measure(part) <= 500 for part in parts)
    groups = [g for part in parts for b in part for g in b.items]
    assert [p.id for g in groups for p in g.proposals] == [p.id for p in lines]
    assert all(g.compact and g.total == 400 for g in groups)  # each slice reads the same way
    assert [g.continued for g in groups] == [False] + [True] * (len(groups) - 1)


def test_digest_model_splitting_fills_each_message_before_the_next():
    # 100 of header + 10 per line: 90 lines fit in 1000 bytes, so 250 lines take 3 messages
    lines = tuple(proposal(i, 0, ()).line for i in range(250))
    blocks = [
        Block("proposals", (TagGroup("a", lines[:40], 40, compact=True),)),
        Block("proposals", (TagGroup("b", lines[40:], 210, compact=True),), continued=True),
    ]
    parts = split(blocks, fake_measure, 1000)
    assert [fake_measure(part) for part in parts] == [1000, 1000, 800]
    groups = [g for part in parts for b in part for g in b.items]
    assert [p.id for g in groups for p in g.proposals] == [p.id for p in lines]
    assert [(g.tag, len(g.proposals), g.continued) for g in groups] == [
        ("a", 40, False),
        ("b", 50, False),
        ("b", 90, True),
        ("b", 70, True),
    ]


def random_blocks(rng: random.Random) -> list[Block]:
    """A digest of 1 to 4 themes of 1 to 120 proposals, and maybe polls and events."""
    themes = []
    for theme in range(rng.randrange(1, 5)):
        count = rng.randrange(1, 120)
        lines = tuple(proposal(theme * 1000 + i, 0, ()).line for i in range(count))
        themes.append(TagGroup(f"t{theme}", lines, count))
    blocks = [Block("proposals", tuple(themes))]
    for kind in ("polls_closed", "events"):
        if rng.random() < 0.7:
            blocks.append(Block(kind, tuple(range(rng.randrange(1, 30)))))
    return blocks


def lines_of(blocks: list[Block]) -> list[tuple[str, object, int]]:
    """Each proposal or item in reading order, with its cost in ``fake_measure``."""
    return [
        (block.kind, line.id, 10) if isinstance(item, TagGroup) else (block.kind, item, 30)
        for block in blocks
        for item in block.items
        for line in (item.proposals if isinstance(item, TagGroup) else (None,))
    ]


def test_digest_model_splitting_random_digests_loses_nothing_and_fills_every_message():
    rng = random.Random(2026)
    for _ in range(300):
        blocks, limit = random_blocks(rng), rng.randrange(140, 700)
        parts = split(blocks, fake_measure, limit)
        expected = lines_of(blocks)
        assert [line for part in parts for line in lines_of(part)] == expected
        position = 0
        for part in parts:
            assert fake_measure(part) <= limit
            position += len(lines_of(part))
            if position < len(expected):  # full: the next line would not have fitted
                assert fake_measure(part) + expected[position][2] > limit


def test_digest_model_an_item_too_big_for_any_message_goes_alone():
    blocks = [Block("polls_closed", (1, 2, 3)), Block("events", (4,))]
    parts = split(blocks, fake_measure, 120)  # every item is 30 bytes over a 100-byte header
    assert [[item for block in part for item in block.items] for part in parts] == [
        [1],
        [2],
        [3],
        [4],
    ]


def test_digest_model_shared_due_is_hours_of_local_time_after_the_week():
    # 2027-W10 ends Monday 15 March 00:00 in Paris (CET): 12 hours later is 11:00 UTC
    assert shared_due("2027-W10", 12, PARIS) == utc(2027, 3, 15, 11)
    # 2027-W12 crosses the change to summer time (Sunday 28 March): still Monday 12:00 local
    assert shared_due("2027-W12", 12, PARIS) == utc(2027, 3, 29, 10)
    # the longest wait reaches the last moment a room's digest of the week can be due
    last = next_slot(utc(2027, 3, 18, 10), Schedule(3, 11, 59), PARIS)  # Thursday 11:59
    assert slot_label(last, PARIS) == "2027-W10"
    assert last < shared_due("2027-W10", 84, PARIS)
    assert slot_label(last + timedelta(minutes=1), PARIS) == "2027-W11"
