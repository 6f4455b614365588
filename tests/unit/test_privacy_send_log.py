"""The bot's copy of sent messages loses exactly what an erasure or the retention asks for,
whatever JSON escaping, line breaks or LIKE wildcards the texts contain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from storage.models import OutboxMessage
from storage.privacy import PrivacyRepository

NOW = datetime(2026, 6, 15, 8, 0, tzinfo=UTC)


def store(database: Any, key: str, body: str, *, status: str = "sent", days_ago: int = 1) -> None:
    moment = NOW - timedelta(days=days_ago)
    with database.session() as session:
        session.add(
            OutboxMessage(
                key=key,
                room_id="!r:test",
                event_type="m.room.message",
                content={"msgtype": "m.notice", "body": body, "formatted_body": f"<p>{body}</p>"},
                txn_id=key,
                status=status,
                next_attempt_at=moment,
                created_at=moment,
                sent_at=moment if status == "sent" else None,
            )
        )


def emptied(database: Any) -> set[str]:
    with database.session() as session:
        return {row.key for row in session.exec(select(OutboxMessage)) if row.content == {}}


def test_erasure_finds_texts_with_quotes_backslashes_line_breaks_and_wildcards(database):
    store(database, "quotes", 'P1 « Le "tiers-lieu" de Tours » enregistrée')
    store(database, "newline", "P2 : Des vélos\npartagés en gare")
    store(database, "wildcards", "P3 : 100% des lieux_communs")
    store(database, "backslash", "P4 : C:\\chemin\\vers")
    store(database, "other", "P5 : rien à voir, 100 lieux communs")
    store(database, "pending", 'Le "tiers-lieu" de Tours', status="pending")
    with database.session() as session:
        scrubbed = PrivacyRepository(session).scrub_sent(
            [
                'Le "tiers-lieu" de Tours',
                "Des vélos partagés",
                "100% des lieux_communs",
                "C:\\chemin\\vers",
            ]
        )
    assert scrubbed == 4
    assert emptied(database) == {"quotes", "newline", "wildcards", "backslash"}


def test_erasure_of_a_snippet_without_a_searchable_piece_still_scans_everything(database):
    store(database, "short", "Réponse : a b c d")
    with database.session() as session:
        assert PrivacyRepository(session).scrub_sent(["a b c"]) == 1
    assert emptied(database) == {"short"}


def test_retention_empties_old_sent_copies_once_and_leaves_recent_and_pending(database):
    store(database, "old", "ancien", days_ago=40)
    store(database, "recent", "récent", days_ago=2)
    store(database, "stuck", "en attente", status="pending", days_ago=40)
    cutoff = NOW - timedelta(days=30)
    with database.session() as session:
        assert PrivacyRepository(session).scrub_sent_before(cutoff, limit=10) == 1
    with database.session() as session:
        assert PrivacyRepository(session).scrub_sent_before(cutoff, limit=10) == 0  # emptied
    assert emptied(database) == {"old"}
