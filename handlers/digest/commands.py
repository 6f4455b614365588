"""`!résumé` / `!digest`: the weekly digest of a room, previewed, published and scheduled.

This module holds the command and plugs the feature into the bot; the work is shared out so
each part reads on its own:

- ``digest_model``: weeks, slots, grouping and splitting, as plain data;
- ``digest_build``: a room's digest of a period, gathered from the database;
- ``digest_messages``: digests rendered into chat messages that fit one event;
- ``digest_schedule``: each room's pending weekly task, following its settings;
- ``digest_publish``: posting a room's digest exactly once per week (task or `!résumé publier`);
- ``digest_shared``: every room's digest of a week gathered into the shared rooms and files,
  without waiting past a set time for rooms whose digest comes late;
- ``digest_files``: the week's Markdown and HTML files with their charts.

`!résumé publier` publishes the coming digest early; it then counts as that week's digest and
moves the room's task to the following week.
"""

from __future__ import annotations

from datetime import timedelta

from bot.runtime.context import Context
from bot.runtime.kit import Feature, Hooks, Services
from bot.runtime.router import Command, fold
from bot.runtime.timers import TaskKind, TaskRun
from bot.text.dates import format_when
from bot.text.errors import UserError
from bot.text.i18n import N_
from handlers.digest.archive import ARCHIVE_KIND, ArchiveLink, DigestArchive
from handlers.digest.build import build_digest
from handlers.digest.messages import RoomMessage
from handlers.digest.publish import Publisher
from handlers.digest.schedule import (
    SHARED_TASK_KIND,
    RoomSchedules,
    current_target,
    schedule_of,
    upcoming_slot,
)
from handlers.digest.shared import SharedDigest
from storage.digests import TASK_KIND, DigestRepository

PUBLISH_WORDS = {"publier", "publish"}
JUST_NOW = timedelta(seconds=1)

ALREADY_PUBLISHED = N_(
    "The digest of week {week} was already published here ({when}). The next one is due {next}."
)
BAD_ARGUMENT = N_(
    "Use {preview} to preview this week's digest, {publish} to post it now or {link} for the "
    "link to the room's digests on the web."
)
PREVIEW, PUBLISH, LINK, NEW_LINK = "preview", "publish", "link", "new-link"
DIGEST_WORDS = {
    "": PREVIEW,
    **dict.fromkeys(PUBLISH_WORDS, PUBLISH),
    **dict.fromkeys(("lien", "link"), LINK),
    **dict.fromkeys(("nouveau-lien", "new-link"), NEW_LINK),
}


def read_digest_mode(ctx: Context) -> str:
    """`!résumé` arguments: nothing to preview, `publier` / `publish` to post now, `lien` /
    `link` for the digest archive's link."""
    argument = fold(ctx.args.strip())
    if argument not in DIGEST_WORDS:
        raise UserError(
            BAD_ARGUMENT, preview="!résumé", publish="!résumé publier", link="!résumé lien"
        )
    return DIGEST_WORDS[argument]


class DigestFeature:
    """The digest's parts, built once, and the `!résumé` command over them."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.schedules = RoomSchedules(services.config, services.timers)
        self.shared = SharedDigest(services, self.schedules)
        self.publisher = Publisher(services, self.schedules, self.shared)
        self.archive = DigestArchive(services, self.shared)
        self.archive_link = ArchiveLink(services, self.archive)

    def ensure_schedules(self) -> None:
        """At start: every joined room has its digest task, every recent week its shared one."""
        with self.services.database.session() as session:
            self.schedules.ensure_all(session, self.services.clock.now())

    def follow_settings(self, ctx: Context, values: dict[str, object]) -> None:
        """`!réglages résumé …` / `fuseau …` changed: move (or cancel) the room's digest task."""
        if {"digest_schedule", "timezone"} & values.keys():
            self.schedules.follow_settings(ctx, values)

    async def fire(self, run: TaskRun) -> None:
        await self.publisher.fire(run)

    async def resume(self, ctx: Context) -> None:
        await self.schedules.on_activity(ctx)
        if ctx.arguments == LINK:
            await self.archive_link.give(ctx)
        elif ctx.arguments == NEW_LINK:
            await self.archive_link.replace(ctx)
        elif ctx.arguments == PUBLISH:
            await self.publish(ctx)
        else:
            self.preview(ctx)

    def preview(self, ctx: Context) -> None:
        now = ctx.clock.now() + JUST_NOW  # include what arrived this very second
        target = current_target(ctx.session, ctx.room, now)
        digest = build_digest(
            ctx.session,
            ctx.room,
            week=target.week,
            start=target.start,
            end=now,
            display_name=ctx.display_name,
        )
        message = RoomMessage(self.services.renderer, ctx.language, digest, preview=True)
        for rendered in message.parts():
            ctx.reply_rendered(rendered)

    async def publish(self, ctx: Context) -> None:
        await ctx.require_organiser()
        now = ctx.clock.now() + JUST_NOW  # include what arrived this very second
        target = current_target(ctx.session, ctx.room, now)
        repository = DigestRepository(ctx.session)
        earlier = repository.get(ctx.room_id, target.week)
        if earlier is not None:
            schedule = schedule_of(ctx.room)
            following = upcoming_slot(repository, ctx.room, schedule, now)[0] if schedule else None
            raise UserError(
                ALREADY_PUBLISHED,
                week=target.week,
                when=format_when(earlier.created_at, tz=ctx.room.tz, language=ctx.language),
                next=format_when(following, tz=ctx.room.tz, language=ctx.language)
                if following
                else ctx.t(N_("never (the digest is off here)")),
            )
        targets = await self.shared.prepare(ctx.session, target.week, [ctx.room_id])
        digest = build_digest(
            ctx.session,
            ctx.room,
            week=target.week,
            start=target.start,
            end=now,
            display_name=ctx.display_name,
        )
        posted = self.publisher.post(
            ctx.session, ctx.room, digest, trigger="manual", published_by=ctx.sender
        )
        self.schedules.ensured.add(ctx.room_id)
        self.schedules.ensure_room(ctx.session, ctx.room, now)
        self.shared.gather(ctx.session, target.week, targets=targets, posted=posted)

    def commands(self) -> list[Command]:
        return [
            Command(
                name="résumé",
                aliases=("resume", "digest"),
                handler=self.resume,
                arguments=read_digest_mode,
                summary=N_("preview this week's digest of the room; organisers can post it now"),
                usage=N_("[publish | link | new-link]"),
                examples=(N_("digest"), N_("digest publish"), N_("digest link")),
                details=N_(
                    "The digest lists the week's new proposals by theme (most supported first), "
                    "the decisions, the polls closed and still open, the coming events with "
                    "their RSVPs and the deadlines. It is posted by itself every week (Monday "
                    "09:00 unless changed with !réglages résumé) and gathered with the other "
                    "rooms' digests in the shared digest room. “publish” posts it now "
                    "(organisers): it then counts as this week's digest, never posted twice."
                ),
            )
        ]


def feature(services: Services) -> Feature:
    """The digest: one command, its weekly task, and the room activity hook."""
    digest = DigestFeature(services)
    on_activity = digest.schedules.on_activity
    return Feature(
        commands=digest.commands(),
        hooks=Hooks(messages=[on_activity], reactions=[on_activity]),
        task_kinds=[
            TaskKind(
                name=TASK_KIND,
                fire=digest.fire,
                describe_missed=digest.publisher.describe_missed,
                grace=None,  # a digest missed during downtime is posted late, once
                reads_first=True,  # a proposal sent before the due time is in it, however late
            ),
            TaskKind(
                name=SHARED_TASK_KIND,
                fire=digest.shared.fire,
                describe_missed=digest.shared.describe_missed,
                grace=None,  # the shared digest too
            ),
        ],
        settings_listeners=[digest.follow_settings],
        after_timers=[digest.ensure_schedules],  # after the rebuild: the next digests
        pages={ARCHIVE_KIND: digest.archive},
    )
