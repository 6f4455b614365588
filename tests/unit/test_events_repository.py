"""The agenda repository: room-checked lookups, upcoming items, RSVPs by reaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.agenda import AgendaRepository
from storage.agenda_models import AgendaItem

NOW = datetime(2026, 6, 15, 8, 0, tzinfo=UTC)


def item(room: str = "!a:test", kind: str = "event", hours: float = 24, **extra) -> AgendaItem:
    return AgendaItem(
        kind=kind,
        room_id=room,
        title="Réunion",
        starts_at=NOW + timedelta(hours=hours),
        timezone="Europe/Paris",
        author="@orga:test",
        created_at=NOW,
        **extra,
    )


def test_events_repository_lookups_check_room_and_kind(database):
    with database.session() as session:
        repository = AgendaRepository(session)
        added = repository.add(item())
        assert added.id is not None
        assert repository.get_in_room(added.id, "!a:test", "event") is added
        assert repository.get_in_room(added.id, "!b:test", "event") is None
        assert repository.get_in_room(added.id, "!a:test", "deadline") is None
        repository.mark_announced(added.id, "$ann")
        repository.mark_announced(added.id, "$other")  # the first announcement stays
        assert repository.get_by_announcement("!a:test", "$ann") is added
        assert repository.get_by_announcement("!b:test", "$ann") is None


def test_events_repository_lists_upcoming_in_order_without_cancelled_or_past(database):
    with database.session() as session:
        repository = AgendaRepository(session)
        later = repository.add(item(hours=48))
        sooner = repository.add(item(kind="deadline", hours=2))
        repository.add(item(hours=-3))  # over
        ongoing = repository.add(item(hours=-1, ends_at=NOW + timedelta(hours=1)))
        cancelled = repository.add(item(hours=5))
        repository.mark_cancelled(cancelled, NOW)
        repository.add(item(room="!b:test"))
        assert repository.list_upcoming("!a:test", NOW) == [ongoing, sooner, later]


def test_events_repository_rsvp_latest_reaction_in_place_counts(database):
    with database.session() as session:
        repository = AgendaRepository(session)
        event = repository.add(item())
        assert event.id is not None
        repository.add_rsvp(event.id, "@ana:test", "going", "$r1", NOW)
        repository.add_rsvp(event.id, "@ben:test", "maybe", "$r2", NOW)
        repository.add_rsvp(event.id, "@ben:test", "not_going", "$r3", NOW + timedelta(seconds=1))
        assert repository.add_rsvp(event.id, "@ben:test", "going", "$r3", NOW) is None  # replay
        assert repository.rsvp_counts(event.id) == {"going": 1, "maybe": 0, "not_going": 1}
        assert repository.delete_rsvp_by_reaction("$r3")
        assert not repository.delete_rsvp_by_reaction("$r3")
        assert repository.rsvp_counts(event.id) == {"going": 1, "maybe": 1, "not_going": 0}
        assert repository.going(event.id) == ["@ana:test"]
