"""The one builder: assembles the runtime from a configuration and a Matrix connection.

The application, the unit tests' kit and `concerto reference` all build through here, so what
they run is wired exactly as the bot is. Features are built in the order help lists their
commands; what each declares (commands, hooks, timers, send hooks, links, start steps) is
plugged in here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from bot.runtime.clock import Clock
from bot.runtime.config import Config
from bot.runtime.intake import Intake
from bot.runtime.kit import Feature, Gateway, Hooks, Links, Services
from bot.runtime.messages import MessageRenderer, notice_content
from bot.runtime.outbox import Outbox
from bot.runtime.pacing import Pacer
from bot.runtime.room_settings import resolve
from bot.runtime.router import Command, CommandPipeline, Registry
from bot.runtime.timers import CatchUp, Describe, Timers
from bot.text.i18n import Translations
from handlers.agenda import commands as agenda
from handlers.digest import commands as digest
from handlers.help import commands as help_feature
from handlers.polls import commands as polls
from handlers.privacy import commands as privacy
from handlers.privacy import retention
from handlers.proposals import commands as proposals
from handlers.settings import commands as settings
from storage.db import Database
from storage.models import ScheduledTask
from storage.rooms import RoomSettingsRepository

PowerLevel = Callable[[str, str], Awaitable[float]]
DisplayName = Callable[[str, str], str]
# Builds a feature from the services, as each feature package's `feature(services)` does.
FeatureFactory = Callable[[Services], Feature]


def build_features(
    services: Services,
    registry: Callable[[], Registry],
    extra_features: Sequence[FeatureFactory] = (),
) -> list[Feature]:
    """Every feature of the bot, in the order help lists their commands; then any extra
    feature (a test's own), plugged in exactly as the bot's are."""
    return [
        help_feature.feature(registry, services.config.bot.command_prefix),
        settings.feature(services),
        agenda.feature(services),
        polls.feature(services),
        proposals.feature(services),
        privacy.feature(services),
        retention.feature(services),
        digest.feature(services),
        *(build(services) for build in extra_features),
    ]


@dataclass
class Assembly:
    features: list[Feature]
    registry: Registry
    hooks: Hooks


def assemble(services: Services, extra_features: Sequence[FeatureFactory] = ()) -> Assembly:
    """Build every feature and plug in what it declares."""
    registry_box: list[Registry] = []
    features = build_features(services, lambda: registry_box[0], extra_features)
    hooks = Hooks()
    commands: list[Command] = []
    links = services.links
    for feature in features:
        commands.extend(feature.commands)
        hooks.extend(feature.hooks)
        for kind in feature.task_kinds:
            services.timers.register(kind)
        for prefix, hook in feature.sent_hooks:
            services.outbox.on_sent(prefix, hook)
        links.settings_listeners.extend(feature.settings_listeners)
        for prefix, canceller in feature.cancellers.items():
            if prefix in links.cancellers:
                raise ValueError(f"ID prefix {prefix!r} cancelled by two features")
            links.cancellers[prefix] = canceller
        for link_kind, provider in feature.pages.items():
            if link_kind in links.pages:
                raise ValueError(f"web link kind {link_kind!r} served by two features")
            links.pages[link_kind] = provider
    registry_box.append(Registry(commands))  # refuses a command name declared twice
    return Assembly(features, registry_box[0], hooks)


@dataclass
class Runtime:
    """Every part of a running bot but the Matrix sync: what the app runs, what tests drive."""

    services: Services
    features: list[Feature]
    registry: Registry
    hooks: Hooks
    pipeline: CommandPipeline
    intake: Intake

    @property
    def outbox(self) -> Outbox:
        return self.services.outbox

    @property
    def timers(self) -> Timers:
        return self.services.timers

    def start_timers(self, catch_up: CatchUp | None = None) -> None:
        """Rebuild the timers, with each feature's start steps around the rebuild;
        ``catch_up`` is the sync's, for the tasks that read the homeserver first."""
        self.run_start_steps(after_timers=False)
        self.timers.start(catch_up)
        self.run_start_steps(after_timers=True)

    def run_start_steps(self, *, after_timers: bool) -> None:
        for feature in self.features:
            for step in feature.after_timers if after_timers else feature.before_timers:
                step()


class MissedTasksNotice:
    """One message per room listing what fell due too long ago to be sent late."""

    def __init__(self, config: Config, renderer: MessageRenderer, outbox: Outbox) -> None:
        self.config = config
        self.renderer = renderer
        self.outbox = outbox

    def __call__(
        self, session: Session, room_id: str, tasks: list[ScheduledTask], describe: Describe
    ) -> None:
        stored = RoomSettingsRepository(session).get(room_id)
        room = resolve(room_id, stored, self.config.bot)
        lines = [line for task in tasks if (line := describe(task, room.language)) is not None]
        if not lines:
            return
        rendered = self.renderer.render("missed_tasks", room.language, lines=lines)
        self.outbox.enqueue(
            session,
            key=f"missed:{min(t.id or 0 for t in tasks)}:{max(t.id or 0 for t in tasks)}",
            room_id=room_id,
            content=notice_content(rendered),
        )


def build_runtime(
    config: Config,
    *,
    database: Database,
    clock: Clock,
    gateway: Gateway,
    power_level: PowerLevel,
    display_name: DisplayName,
    templates_dir: Path | None = None,
    extra_features: Sequence[FeatureFactory] = (),
) -> Runtime:
    translations = Translations()
    renderer = MessageRenderer(translations, templates_dir)
    outbox = Outbox(database, gateway, clock)
    timers = Timers(database, clock, report_missed=MissedTasksNotice(config, renderer, outbox))
    services = Services(
        config, database, clock, outbox, timers, renderer, translations, gateway, Links()
    )
    assembly = assemble(services, extra_features)
    pipeline = CommandPipeline(
        assembly.registry,
        config.bot.command_prefix,
        Pacer(config.bot.commands_per_minute, config.bot.max_waiting_commands),
        renderer,
        outbox,
    )
    intake = Intake(
        bot_user_id=config.matrix.user_id,
        database=database,
        clock=clock,
        defaults=config.bot,
        pipeline=pipeline,
        hooks=assembly.hooks,
        translations=translations,
        renderer=renderer,
        outbox=outbox,
        timers=timers,
        power_level=power_level,
        display_name=display_name,
    )
    return Runtime(services, assembly.features, assembly.registry, assembly.hooks, pipeline, intake)
