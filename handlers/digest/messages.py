"""Rendering digests into chat messages: a room's digest, and the shared digest of a week.

Both name every proposal of the week and are split into labelled parts (1/2, 2/2) so that no
message exceeds what one Matrix event allows, a large theme being cut between its proposals;
the splitting rules live in ``handlers.digest.model``, the text in the ``digest_room`` and
``digest_shared`` templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.runtime.messages import (
    MAX_EVENT_BYTES,
    MessageRenderer,
    Rendered,
    content_bytes,
    notice_content,
)
from handlers.digest.model import Block, PendingRoom, RoomDigest, split

# Messages are measured with the longest part label they may carry, "(9999/9999)": every
# proposal is named, so a huge week runs to more than 99 parts, and messages are filled to the
# last line, so a few bytes more in the label could push one over the limit.
WIDEST = 9999


def content_size(rendered: Rendered) -> int:
    """Bytes of the event content a rendered message becomes (what the limit applies to)."""
    return content_bytes(notice_content(rendered))


@dataclass
class RoomMessage:
    """How a room digest is rendered into one or more labelled messages."""

    renderer: MessageRenderer
    language: str
    digest: RoomDigest
    preview: bool = False
    late: str = ""
    limit: int = MAX_EVENT_BYTES

    def render(self, blocks: Sequence[Block], part: int = 1, parts: int = 1) -> Rendered:
        start, end = self.digest.period.split("|")
        return self.renderer.render(
            "digest_room",
            self.language,
            d=self.digest,
            blocks=list(blocks),
            start=start,
            end=end,
            part=part,
            parts=parts,
            preview=self.preview,
            late=self.late,
        )

    def measure(self, blocks: Sequence[Block]) -> int:
        return content_size(self.render(blocks, WIDEST, WIDEST))

    def parts(self) -> list[Rendered]:
        chunks = split(self.digest.blocks(), self.measure, self.limit)
        return [self.render(chunk, index, len(chunks)) for index, chunk in enumerate(chunks, 1)]


@dataclass(frozen=True)
class RoomChunk:
    """A room's digest, or a slice of its sections, inside the shared message."""

    digest: RoomDigest
    blocks: tuple[Block, ...]
    continued: bool = False


@dataclass
class SharedMessage:
    """Rooms' digests of a week, split into labelled messages: the shared digest (a table of
    contents, then the rooms not included yet), or an addition (a late room's digest alone)."""

    renderer: MessageRenderer
    language: str
    week: str
    digests: list[RoomDigest]
    missing: Sequence[PendingRoom] = ()
    addition: bool = False
    limit: int = MAX_EVENT_BYTES

    def render(self, entries: Sequence[Block], part: int = 1, parts: int = 1) -> Rendered:
        return self.renderer.render(
            "digest_shared",
            self.language,
            week=self.week,
            toc=self.digests,
            missing=list(self.missing),
            addition=self.addition,
            entries=[entry.items[0] for entry in entries],
            part=part,
            parts=parts,
        )

    def parts(self) -> list[Rendered]:
        entries: list[Block] = []
        for digest in self.digests:

            def measure(blocks: Sequence[Block], digest: RoomDigest = digest) -> int:
                # as the worst case: a first part (with the contents) and a continued room
                chunk = RoomChunk(digest, tuple(blocks), continued=True)
                return content_size(self.render([Block("room", (chunk,))], 1, WIDEST))

            chunks = split(digest.blocks(), measure, self.limit)
            for index, chunk in enumerate(chunks):
                entries.append(Block("room", (RoomChunk(digest, tuple(chunk), index > 0),)))
        # Measured as a first part, whose contents list counts too (the worst case).
        chunks = split(
            entries, lambda blocks: content_size(self.render(blocks, 1, WIDEST)), self.limit
        )
        return [self.render(chunk, index, len(chunks)) for index, chunk in enumerate(chunks, 1)]
