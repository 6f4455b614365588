"""The application: opens the database, logs in, prepares encryption, builds the runtime
(``bot.runtime.builder``), runs the sync, the outbox, the waiting commands and the timers, and
stops within Docker's grace period."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

from bot.matrix import crypto
from bot.matrix.gateway import FatalGatewayError, MatrixGateway
from bot.matrix.membership import Membership
from bot.matrix.sync import SyncLoop
from bot.runtime.builder import build_runtime
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.config import Config
from bot.runtime.health import Health, SyncState
from bot.runtime.outbox import run_forever
from bot.runtime.web import WebService
from storage.db import Database, DatabaseTooNewError

log = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 8.0  # under Docker's 10 s grace period
CATCH_UP_SECONDS = 30.0
RESUME_SENDING_SECONDS = 10.0


def data_dir_problem(data_dir: Path) -> str | None:
    """What keeps the bot from writing its data dir (created if missing), in one line."""
    probe = data_dir / ".write-test"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        uid = os.getuid()
        return (
            f"the data dir {data_dir} is not writable ({error.strerror}): make it owned by "
            f"uid {uid}, the user the bot runs as (chown -R {uid} {data_dir}), or set "
            "storage.data_dir to a folder it may write"
        )
    return None


class App:
    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT. Returns the process exit code: 2, after one line saying
        what to do, when the bot cannot start or its session ends for good."""
        config = self.config
        problem = data_dir_problem(config.data_path)
        if problem:
            log.error("%s", problem)
            return 2
        database = Database.from_url(config.database_url)
        try:
            database.migrate()
        except DatabaseTooNewError as error:
            log.error("%s", error)
            database.close()
            return 2
        try:
            return await self._connect_and_serve(database)
        finally:
            database.close()

    async def _connect_and_serve(self, database: Database) -> int:
        config = self.config
        matrix = config.matrix
        try:
            keys = crypto.crypto_files(config.data_path)
        except OSError as error:
            log.error(
                "cannot use the key store in the data dir (%s: %s): make the data dir and "
                "everything in it owned by uid %d, the user the bot runs as",
                error.filename,
                error.strerror,
                os.getuid(),
            )
            return 2
        gateway = MatrixGateway(
            matrix.homeserver,
            matrix.user_id,
            matrix.device_name,
            store_path=keys.store_path,
            pickle_key=keys.pickle_key,
        )
        try:
            try:
                await gateway.login(
                    config.data_path,
                    password=matrix.password,
                    access_token=matrix.access_token,
                    device_id=matrix.device_id,
                )
                can_encrypt = await self._prepare_encryption(gateway)
                if crypto.store_lost(gateway) and matrix.password:
                    gateway = await crypto.start_over(
                        gateway, config.data_path, password=matrix.password
                    )
                    can_encrypt = await self._prepare_encryption(gateway)
            except FatalGatewayError as error:
                log.error("%s", error)
                return 2
            return await self._serve(database, gateway, can_encrypt)
        finally:
            await gateway.close()

    async def _prepare_encryption(self, gateway: MatrixGateway) -> bool:
        config = self.config
        try:
            return await crypto.prepare(gateway, config.data_path, password=config.matrix.password)
        except FatalGatewayError:
            raise
        except Exception:
            log.exception("could not prepare encryption: encrypted rooms will be refused")
            return False

    async def _serve(self, database: Database, gateway: MatrixGateway, can_encrypt: bool) -> int:
        config, clock = self.config, self.clock
        runtime = build_runtime(
            config,
            database=database,
            clock=clock,
            gateway=gateway,
            power_level=gateway.power_level,
            display_name=gateway.display_name,
            templates_dir=config.data_path / "templates",
        )
        intake, outbox, timers = runtime.intake, runtime.outbox, runtime.timers
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
            renderer=runtime.services.renderer,
            clock=clock,
            defaults=config.bot,
        )
        resumed = asyncio.Event()

        async def resume_sending() -> None:
            # Finish what was being sent when the bot stopped before reading what happened
            # meanwhile: a message's sent hook records what later events refer to (a poll's
            # start event ID, which votes in the sync answer point to). The sync calls this
            # once the client knows the rooms (it cannot send before) and before it hands
            # the batch to the intake; the outbox worker starts after it, so that a send
            # refused before the first sync is not put off by a retry delay.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(outbox.send_due(), timeout=RESUME_SENDING_SECONDS)
            resumed.set()

        async def send_forever() -> None:
            await resumed.wait()
            await run_forever(outbox.run, "outbox")

        sync = SyncLoop(
            gateway=gateway,
            database=database,
            intake=intake,
            membership=membership,
            clock=clock,
            undecryptable=undecryptable,
            on_reconnect=outbox.retry_now,
            heartbeat=config.data_path,
            before_first_batch=resume_sending,
        )
        web_service: WebService | None = None
        if config.web.enabled:
            web_service = WebService(
                config.web,
                database=database,
                clock=clock,
                gateway=gateway,
                pages=runtime.services.links.pages,
                health=Health(database, clock, lambda: SyncState(sync.last_success, sync.failures)),
                room_synced=gateway.has_room_state,
            )
            try:
                await web_service.start()
            except OSError as problem:
                log.error(
                    "the web service cannot listen on %s (%s): free that address or change "
                    "web.listen",
                    config.web.listen,
                    problem.strerror or problem,
                )
                return 2
        self._install_signal_handlers()
        intake.restore_waiting()  # before the first sync adds to the queue
        waiting_task = asyncio.create_task(
            run_forever(intake.run_waiting, "waiting commands"), name="waiting"
        )
        sync_task = asyncio.create_task(sync.run(), name="sync")
        outbox_task = asyncio.create_task(send_forever(), name="outbox")
        # Catch up on what happened while the bot was away (votes, cancellations) before
        # firing what fell due meanwhile; if the homeserver is unreachable, start anyway.
        waits = {
            asyncio.ensure_future(sync.synced.wait()),
            asyncio.ensure_future(self._stop.wait()),
        }
        await asyncio.wait(waits, timeout=CATCH_UP_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        for waiting in waits:
            waiting.cancel()
        runtime.start_timers(catch_up=sync.caught_up)
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
        if web_service is not None:
            await web_service.stop()
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
