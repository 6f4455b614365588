"""The composition root: builds every part once, hands each only what it uses, runs the bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlmodel import Session

from bot.matrix import crypto
from bot.matrix.gateway import FatalGatewayError, MatrixGateway
from bot.matrix.membership import Membership
from bot.matrix.sync import SyncLoop
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.config import Config
from bot.runtime.context import Context
from bot.runtime.intake import Hooks, Intake
from bot.runtime.messages import MessageRenderer, notice_content
from bot.runtime.outbox import Outbox, SentHook, run_forever
from bot.runtime.pacing import Pacer
from bot.runtime.room_settings import resolve
from bot.runtime.router import Command, Registry, Router
from bot.runtime.timers import TaskKind, Timers
from bot.text.i18n import Translations
from storage.db import Database, DatabaseTooNewError
from storage.models import ScheduledTask
from storage.rooms import RoomSettingsRepository

log = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 8.0  # under Docker's 10 s grace period
CATCH_UP_SECONDS = 30.0


@dataclass
class Services:
    """What features may use. Built once by the App."""

    config: Config
    database: Database
    clock: Clock
    outbox: Outbox
    timers: Timers
    renderer: MessageRenderer
    translations: Translations
    gateway: MatrixGateway


@dataclass
class Feature:
    """What a feature adds to the bot: commands, event hooks, task kinds, send hooks."""

    commands: list[Command] = field(default_factory=list)
    hooks: Hooks = field(default_factory=Hooks)
    task_kinds: list[TaskKind] = field(default_factory=list)
    sent_hooks: list[tuple[str, SentHook]] = field(default_factory=list)


def build_features(services: Services, registry: Callable[[], Registry]) -> list[Feature]:
    """Every feature of the bot, in the order help lists their commands."""
    from handlers.agenda import commands as events_feature
    from handlers.digest import commands as digest_feature
    from handlers.help import commands as help_feature
    from handlers.polls import commands as polls_feature
    from handlers.privacy import commands as privacy_feature
    from handlers.privacy import retention as retention_feature
    from handlers.proposals import commands as proposals_feature
    from handlers.settings import commands as settings_feature

    async def cancel_poll(ctx: Context, number: int) -> None:
        await polls_feature.cancel_poll(ctx, f"S{number}")

    prefix = services.config.bot.command_prefix
    return [
        Feature(commands=help_feature.commands(registry, prefix)),
        Feature(commands=settings_feature.commands()),
        events_feature.feature(services, cancellers={"S": cancel_poll}),
        polls_feature.feature(services),
        proposals_feature.feature(services),
        privacy_feature.feature(services),
        retention_feature.feature(services),
        digest_feature.feature(services),
    ]


def assemble(services: Services) -> tuple[Registry, Hooks]:
    """Build every feature and plug it in: commands into the registry, hooks, task kinds
    into the timers, send hooks into the outbox."""
    registry_box: list[Registry] = []
    features = build_features(services, lambda: registry_box[0])
    hooks = Hooks()
    commands: list[Command] = []
    for feature in features:
        commands.extend(feature.commands)
        hooks.messages += feature.hooks.messages
        hooks.reactions += feature.hooks.reactions
        hooks.redactions += feature.hooks.redactions
        hooks.edits += feature.hooks.edits
        hooks.polls += feature.hooks.polls
        for kind in feature.task_kinds:
            services.timers.register(kind)
        for prefix, hook in feature.sent_hooks:
            services.outbox.on_sent(prefix, hook)
    registry_box.append(Registry(commands))
    return registry_box[0], hooks


class App:
    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT. Returns the process exit code."""
        config = self.config
        config.data_path.mkdir(parents=True, exist_ok=True)
        database = Database.from_url(config.database_url)
        try:
            database.migrate()
        except DatabaseTooNewError as error:
            log.error("%s", error)
            return 2
        keys = crypto.crypto_files(config.data_path)
        gateway = MatrixGateway(
            config.matrix.homeserver,
            config.matrix.user_id,
            config.matrix.device_name,
            store_path=keys.store_path,
            pickle_key=keys.pickle_key,
        )
        try:
            await gateway.login(
                config.data_path,
                password=config.matrix.password,
                access_token=config.matrix.access_token,
            )
        except FatalGatewayError as error:
            log.error("%s", error)
            await gateway.close()
            return 2
        try:
            password = config.matrix.password
            can_encrypt = await crypto.prepare(gateway, config.data_path, password=password)
            if crypto.store_lost(gateway) and password:
                gateway = await crypto.start_over(gateway, config.data_path, password=password)
                can_encrypt = await crypto.prepare(gateway, config.data_path, password=password)
        except FatalGatewayError as error:
            log.error("%s", error)
            await gateway.close()
            return 2
        except Exception:
            log.exception("could not prepare encryption: encrypted rooms will be refused")
            can_encrypt = False
        try:
            return await self._serve(database, gateway, can_encrypt)
        finally:
            await gateway.close()
            database.close()

    async def _serve(self, database: Database, gateway: MatrixGateway, can_encrypt: bool) -> int:
        config, clock = self.config, self.clock
        translations = Translations()
        renderer = MessageRenderer(translations, config.data_path / "templates")
        outbox = Outbox(database, gateway, clock)
        timers = Timers(database, clock)
        services = Services(
            config, database, clock, outbox, timers, renderer, translations, gateway
        )
        registry, hooks = assemble(services)
        router = Router(registry, config.bot.command_prefix)
        timers.report_missed = lambda session, room_id, tasks: self._report_missed(
            session, room_id, tasks, services
        )
        intake = Intake(
            bot_user_id=config.matrix.user_id,
            database=database,
            clock=clock,
            defaults=config.bot,
            router=router,
            pacer=Pacer(config.bot.commands_per_minute, config.bot.max_waiting_commands),
            hooks=hooks,
            translations=translations,
            renderer=renderer,
            outbox=outbox,
            timers=timers,
            power_level=gateway.power_level,
            display_name=gateway.display_name,
        )
        membership = Membership(
            gateway=gateway,
            database=database,
            timers=timers,
            clock=clock,
            allowed_inviters=config.bot.allowed_inviters,
            can_encrypt=can_encrypt,
        )
        undecryptable = crypto.UndecryptableNotices(
            gateway=gateway,
            database=database,
            outbox=outbox,
            renderer=renderer,
            clock=clock,
            defaults=config.bot,
        )
        sync = SyncLoop(
            gateway=gateway,
            database=database,
            intake=intake,
            membership=membership,
            clock=clock,
            undecryptable=undecryptable,
            on_reconnect=outbox.retry_now,
        )
        self._install_signal_handlers()
        intake.restore_waiting()  # before the first sync adds to the queue
        waiting_task = asyncio.create_task(
            run_forever(intake.run_waiting, "waiting commands"), name="waiting"
        )
        sync_task = asyncio.create_task(sync.run(), name="sync")
        outbox_task = asyncio.create_task(run_forever(outbox.run, "outbox"), name="outbox")
        # Catch up on what happened while the bot was away (votes, cancellations) before
        # firing what fell due meanwhile; if the homeserver is unreachable, start anyway.
        waits = {
            asyncio.ensure_future(sync.synced.wait()),
            asyncio.ensure_future(self._stop.wait()),
        }
        await asyncio.wait(waits, timeout=CATCH_UP_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        for waiting in waits:
            waiting.cancel()
        from handlers.privacy.retention import prepare_retention  # before the rebuild: not "missed"

        prepare_retention(services)
        timers.start()
        from handlers.digest.commands import ensure_schedules  # after the rebuild: next digests

        ensure_schedules(services)
        log.info("Concerto is running as %s", config.matrix.user_id)
        stop_task = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait({sync_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        exit_code = 0
        if sync_task in done and sync_task.exception() is not None:
            error = sync_task.exception()
            if isinstance(error, FatalGatewayError):
                log.error("%s", error)
            else:
                log.error("sync stopped unexpectedly", exc_info=error)
            exit_code = 2
        log.info("stopping")
        sync.stop()
        timers.shutdown()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(sync_task), timeout=SHUTDOWN_SECONDS / 2)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(outbox.wait_idle(), timeout=SHUTDOWN_SECONDS / 2)
        for task in (sync_task, outbox_task, waiting_task, stop_task):
            task.cancel()
        await asyncio.gather(
            sync_task, outbox_task, waiting_task, stop_task, return_exceptions=True
        )
        return exit_code

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.request_stop)

    def _report_missed(
        self, session: Session, room_id: str, tasks: list[ScheduledTask], services: Services
    ) -> None:
        """One message per room listing what fell due too long ago to be sent late."""
        room = resolve(room_id, RoomSettingsRepository(session).get(room_id), self.config.bot)
        lines = []
        for task in tasks:
            kind = services.timers.kinds.get(task.kind)
            if kind is not None:
                lines.append(kind.describe_missed(task, room.language))
        if not lines:
            return
        rendered = services.renderer.render("missed_tasks", room.language, lines=lines)
        services.outbox.enqueue(
            session,
            key=f"missed:{min(t.id or 0 for t in tasks)}:{max(t.id or 0 for t in tasks)}",
            room_id=room_id,
            content=notice_content(rendered),
        )
