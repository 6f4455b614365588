"""Hostile and broken input: parsers never raise anything but a user-facing error, members
never get organiser powers whatever spelling they use, and the bot always answers."""

from __future__ import annotations

import unicodedata
from datetime import timedelta

import pytest
from harness import ROOM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import SQLModel, select

from bot.runtime.router import Permission, split_command
from bot.text.errors import UserError
from bot.text.fields import FieldError, split_fields
from handlers.settings.commands import SETTINGS
from handlers.shared.schedule import parse_digest_schedule
from storage.models import OutboxMessage, ScheduledTask

MEMBER = "@member:test"
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300
) | st.sampled_from(["", " ", ";", "::", "a: b ; c: d", "fin: ; choix: x", "\n\n;\n", "!"])


@given(TEXT)
def test_command_splitting_never_raises(text):
    parsed = split_command(text, "!")
    assert parsed is None or (parsed[0] and not parsed[0][0].isspace())


@given(TEXT)
def test_field_splitting_gives_fields_or_a_user_error(text):
    try:
        positional, options = split_fields(text, allowed={"place", "link", "end", "reminders"})
    except FieldError as error:
        assert error.message.msgid
    else:
        assert isinstance(positional, list) and isinstance(options, dict)


@given(TEXT)
def test_digest_schedule_gives_a_schedule_off_or_a_user_error(text):
    try:
        parse_digest_schedule(text)
    except UserError as error:
        assert error.message.msgid


def spellings(name: str) -> set[str]:
    """The ways people type a command: as declared, without accents, in capitals."""
    bare = "".join(
        ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch)
    )
    return {name, bare, name.upper(), bare.capitalize()}


def stored_rows(database) -> int:
    """Every row of every feature table, except the runtime's own bookkeeping."""
    skip = {"processed_event", "outbox_message", "key_value", "room_settings"}
    total = 0
    with database.session() as session:
        for table in SQLModel.metadata.sorted_tables:
            if table.name not in skip:
                total += len(session.exec(select(table)).all())
    return total


@pytest.fixture
def database(sqlite_database):
    """SQLite only: these tests send hundreds of commands each."""
    return sqlite_database


async def test_members_cannot_run_organiser_commands_in_any_spelling(bot, database):
    organiser_commands = [c for c in bot.registry.commands if c.permission is Permission.ORGANISERS]
    assert organiser_commands, "some commands are for organisers only"
    arguments = "Réunion ; demain 14h"
    for command in organiser_commands:
        for name in {s for n in command.all_names for s in spellings(n)}:
            replies = await bot.say(MEMBER, f"!{name} {arguments}")
            assert replies and "organisateurs" in replies[0], (name, replies)
    assert stored_rows(database) == 0
    with database.session() as session:
        assert session.exec(select(ScheduledTask)).all() == []


async def test_members_cannot_change_any_setting_in_any_spelling(bot, database):
    for setting in SETTINGS:
        # one setting a minute: the member tries them all, under the pace of a person
        bot.clock.advance(timedelta(minutes=1))
        for name in {s for n in (setting.name, *setting.aliases) for s in spellings(n)}:
            value = setting.example.split(" ", 1)[1]
            replies = await bot.say(MEMBER, f"!réglages {name} {value}")
            assert replies and "organisateurs" in replies[0], (name, replies)
        bot.clock.advance(timedelta(minutes=1))  # a fresh pace: this is about permissions


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=TEXT)
async def test_any_command_text_gets_an_answer_and_never_crashes(bot, body):
    bot.clock.advance(timedelta(minutes=1))  # one person typing, not a flood of examples
    for name in ("sondage", "événement", "proposition", "réglages", "annuler", "agenda"):
        bot.levels[MEMBER] = 100  # as an organiser: reach the parsers, not the refusal
        replies = await bot.say(MEMBER, f"!{name} {body}")
        bot.levels.pop(MEMBER)
        assert replies, (name, body)  # always an answer: a result or what to fix
        assert "incident" not in " ".join(replies), (name, body, replies)


async def test_outbox_holds_no_unescaped_user_html(bot, database):
    bot.levels[MEMBER] = 100
    evil = "<img src=x onerror=alert(1)> @room"
    for line in (
        f"!proposition {evil} #test",
        f"!sondage {evil} ; <b>a</b> ; <i>b</i>",
        f"!événement {evil} ; demain 14h ; lieu: <script>x</script>",
        "!propositions",
        "!agenda",
    ):
        await bot.say(MEMBER, line)
    with database.session() as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.room_id == ROOM)).all()
    assert rows
    for row in rows:
        html = row.content.get("formatted_body", "")
        assert "<img" not in html and "<script" not in html and "<b>a" not in html
        assert row.content.get("m.mentions", {}).get("room") is not True
