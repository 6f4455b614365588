"""Quorum: the share of the room's members who must answer for a poll or decision to count.

Members are those joined at the close, the bot left out. The number needed is rounded up
(50 % of 5 members is 3), and every counted answer counts towards it, abstentions included.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Quorum:
    percent: int
    members: int | None  # None when the homeserver could not say at the close
    voters: int

    @property
    def needed(self) -> int | None:
        if self.members is None:
            return None
        return max(1, math.ceil(self.percent * self.members / 100))

    @property
    def reached(self) -> bool | None:
        """Whether enough members answered; None when it could not be checked."""
        needed = self.needed
        return None if needed is None else self.voters >= needed

    def snapshot(self) -> dict[str, Any]:
        return {**asdict(self), "needed": self.needed, "reached": self.reached}
