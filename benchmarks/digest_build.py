"""Build and render the weekly digest of one room with 10,000 proposals in the week.

Seeds a fresh SQLite database (migrated like the bot's), then measures:
- build: reading proposals, tags, supports, polls and agenda into the digest model;
- render: the room message(s) (every proposal named, compact lines past 10 in a theme, split
  under the event limit);
- render (files): the full Markdown + HTML page listing every proposal, with the charts;
and the peak Python memory of build + render (tracemalloc). Usage:
    python benchmarks/digest_build.py [--proposals 10000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.runtime.config import load_config
from bot.runtime.messages import MessageRenderer
from bot.runtime.room_settings import resolve
from bot.text.i18n import Translations
from bot.tools.shipped_config import EXAMPLE
from handlers.digest.commands import RoomMessage, build_digest
from handlers.digest.files import activity, render_week
from storage.db import Database
from storage.digests import DigestRepository
from storage.proposal_models import Proposal, ProposalReaction, ProposalTag

ROOM = "!bench:example.org"
END = datetime(2027, 3, 15, 8, 0, tzinfo=UTC)
START = END - timedelta(days=7)
TAGS = [f"thème{index}" for index in range(40)]


def seed(database: Database, count: int) -> None:
    rng = random.Random(7)
    with database.session() as session:
        for index in range(count):
            created = START + timedelta(seconds=rng.randrange(7 * 24 * 3600))
            session.add(
                Proposal(
                    id=index + 1,
                    room_id=ROOM,
                    event_id=f"$p{index}",
                    author=f"@user{index % 300}:example.org",
                    text=f"Proposition {index} : " + "des mots pour la décrire " * 6,
                    source="command",
                    created_at=created,
                )
            )
            for position, tag in enumerate(rng.sample(TAGS, rng.randint(1, 3))):
                session.add(
                    ProposalTag(proposal_id=index + 1, folded=tag, display=tag, position=position)
                )
            for support in range(rng.randrange(4)):
                session.add(
                    ProposalReaction(
                        proposal_id=index + 1,
                        reaction_event_id=f"$r{index}-{support}",
                        user_id=f"@user{support}:example.org",
                        kind="support",
                        created_at=created,
                    )
                )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--proposals", type=int, default=10_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Database.from_url(f"sqlite:///{Path(folder) / 'bench.db'}")
        database.migrate()
        started = time.perf_counter()
        seed(database, options.proposals)
        print(f"seeded {options.proposals} proposals in {time.perf_counter() - started:.2f} s")
        renderer = MessageRenderer(Translations())
        room = resolve(ROOM, None, load_config(EXAMPLE, environ={}).bot)  # shipped defaults
        with database.session() as session:
            started = time.perf_counter()
            digest = build_digest(
                session, room, week="2027-W10", start=START, end=END, display_name=str
            )
            built = time.perf_counter()
            parts = RoomMessage(renderer, "fr", digest).parts()
            rendered = time.perf_counter()
            print(f"build:  {1000 * (built - started):7.1f} ms  ({digest.new_proposals} new)")
            print(f"render: {1000 * (rendered - built):7.1f} ms  ({len(parts)} message(s))")
            print(f"build + render: {1000 * (rendered - started):7.1f} ms")
        with database.session() as session:  # a second run under tracemalloc (it slows down)
            tracemalloc.start()
            digest = build_digest(
                session, room, week="2027-W10", start=START, end=END, display_name=str
            )
            RoomMessage(renderer, "fr", digest).parts()
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"peak memory (tracemalloc, build + render): {peak / 1e6:.1f} MB")
            started = time.perf_counter()
            full = build_digest(
                session,
                room,
                week="2027-W10",
                start=START,
                end=END,
                display_name=str,
            )
            data = activity(DigestRepository(session), [full], "2027-W10", "Europe/Paris", {})
            markdown, page = render_week("2027-W10", [full], data, renderer=renderer, language="fr")
            print(
                f"files (every proposal, md {len(markdown) // 1024} KiB + html "
                f"{len(page) // 1024} KiB): {1000 * (time.perf_counter() - started):7.1f} ms"
            )
        database.close()


if __name__ == "__main__":
    main()
