"""Shared pieces of the benchmarks: a throwaway Synapse, the real bot as a process, the echo
bot, people, statistics, and the appendix written to ``BENCHMARKS.md``.

Every benchmark starts its own Synapse on 127.0.0.1 in a temporary folder and removes it at the
end. People are the integration tests' :class:`Person` (a syncing matrix-nio client that fills
sync gaps from ``/messages``), imported from ``tests/integration``.

Set ``CONCERTO_BENCH_PROFILE=1`` to run the bot under the sampling profiler py-spy (install it
into the virtual environment yourself; it is not a project dependency): each benchmark then
prints the functions where the bot spent its time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for _folder in (REPO, REPO / "tests" / "integration"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from matrix_people import Person  # noqa: E402

from bot.runtime.config import ENV_PREFIX, load_config  # noqa: E402
from bot.tools.local_homeserver import LocalHomeserver, RegisteredUser  # noqa: E402
from bot.tools.shipped_config import EXAMPLE, departures, env_name, environment  # noqa: E402

__all__ = [
    "PACE",
    "PACE_INTERVAL",
    "PACE_WINDOW",
    "REPO",
    "SHIPPED",
    "BotProcess",
    "EchoBotProcess",
    "LocalHomeserver",
    "Person",
    "RegisteredUser",
    "append_report",
    "concerto_reply",
    "joined",
    "machine_description",
    "pacing_notice",
    "percentile",
    "register",
    "replies_to",
    "reply_to",
    "room_with",
    "same_reply_echo_bot",
    "summary",
    "table",
    "workspace",
]

RESULTS_FILE = REPO / "BENCHMARKS.md"
PROFILE = os.environ.get("CONCERTO_BENCH_PROFILE") == "1"

SHIPPED = load_config(EXAMPLE, environ={}).bot
"""The shipped bot settings the benchmarked bot runs with (pacing: ``commands_per_minute``)."""
PACE_WINDOW = 60.0
"""Seconds after which a person's pace is whole again: a member who sent a burst may again send
``commands_per_minute`` at once, and an organiser's flood count (one minute) is empty."""
PACE_INTERVAL = 60 / SHIPPED.commands_per_minute
"""Seconds between two commands of a person past the ones run at once."""
PACE = f"{SHIPPED.commands_per_minute} commands at once, then " + (
    "one a second" if PACE_INTERVAL == 1 else f"one every {PACE_INTERVAL:g} s"
)
"""The shipped pace per person and room, in words, for the reports."""
CATCHING_UP = "un peu plus lentement"  # the notice "I will handle them … a little more slowly"
FLOOD = "Trop de commandes d'un coup"  # the reply naming the commands refused in a flood

Event = dict[str, Any]


# ---------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0–100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, p95, p99, min and max of the values."""
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "min": min(values),
        "max": max(values),
    }


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- machine and report


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_description() -> str:
    """Cores, memory, OS, Python and the versions that matter, on one line."""
    return (
        f"{os.cpu_count()} cores, {_memory_gib():.0f} GiB RAM, {platform.system()} "
        f"{platform.release()} ({platform.machine()}), Python {platform.python_version()}, "
        f"Synapse {_version('matrix-synapse')} (SQLite), matrix-nio {_version('matrix-nio')}"
    )


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


RESULTS_HEADER = """# Benchmarks

Figures appended by the scripts in `benchmarks/` (`python benchmarks/<name>.py`). Each script
starts its own throwaway Synapse on 127.0.0.1, the real bot as a separate process, measures,
and appends a section here with the date and the machine. Synapse, the bot and the measuring
clients share the same machine, so these are sizes, not guarantees: compare figures taken in
the same run (the ratios) rather than across machines.
"""


def append_report(title: str, body: str, *, started: float, notes: Sequence[str] = ()) -> None:
    """Print the section and append it to ``BENCHMARKS.md`` (created if missing)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {title} — {now}",
        "",
        f"Machine: {machine_description()}. Load average at the end: {load_average()}. "
        f"Run took {time.monotonic() - started:.0f} s.",
        "",
        body,
    ]
    if notes:
        lines.append("")
        lines.extend(f"- {note}" for note in notes)
    section = "\n".join(lines) + "\n"
    print("\n" + section)
    if not RESULTS_FILE.exists():
        RESULTS_FILE.write_text(RESULTS_HEADER, encoding="utf-8")
    with RESULTS_FILE.open("a", encoding="utf-8") as stream:
        stream.write("\n" + section)


# ---------------------------------------------------------------------- homeserver


@contextlib.asynccontextmanager
async def workspace(name: str) -> AsyncIterator[tuple[Path, LocalHomeserver]]:
    """A temporary folder with a running Synapse in it; both are gone afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=f"concerto-bench-{name}-"))
    server = LocalHomeserver(folder / "homeserver")
    await asyncio.to_thread(server.start)
    try:
        yield folder, server
    finally:
        await asyncio.to_thread(server.stop)
        shutil.rmtree(folder, ignore_errors=True)


async def register(server: LocalHomeserver, name: str) -> RegisteredUser:
    localpart = f"{name}-{uuid.uuid4().hex[:6]}"
    return await asyncio.to_thread(server.register, localpart, uuid.uuid4().hex)


# ---------------------------------------------------------------------- predicates


def joined(user_id: str) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        return (
            event.get("type") == "m.room.member"
            and event.get("state_key") == user_id
            and (event.get("content") or {}).get("membership") == "join"
        )

    return match


def replies_to(event: Event) -> str | None:
    """The event ID this event is a rich reply to, if any."""
    content = event.get("content")
    if not isinstance(content, dict):
        return None
    relation = content.get("m.relates_to")
    if not isinstance(relation, dict):
        return None
    target = (relation.get("m.in_reply_to") or {}).get("event_id")
    return target if isinstance(target, str) else None


def pacing_notice(event: Event) -> str | None:
    """``"catching up"`` or ``"flood"`` if the event is the bot's pacing notice (a reply to a
    command, but not its answer), else None."""
    body = str((event.get("content") or {}).get("body", ""))
    if FLOOD in body:
        return "flood"
    if CATCHING_UP in body:
        return "catching up"
    return None


def reply_to(bot_id: str, event_id: str) -> Callable[[Event], bool]:
    """The bot's answer to the command (pacing notices apart)."""

    def match(event: Event) -> bool:
        return (
            event.get("sender") == bot_id
            and replies_to(event) == event_id
            and pacing_notice(event) is None
        )

    return match


# ---------------------------------------------------------------------- processes


class _Process:
    """A child process, optionally under py-spy, whose own PID we can read memory from."""

    name = "process"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log_path = directory / f"{self.name}.log"
        self.profile_path = directory / f"{self.name}.profile.txt"
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.profiled = False
        self.profile = "(not profiled)"
        """Summary of the last profiled run, filled in by ``stop()``."""

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self, *, profile: bool = False) -> None:
        command = self._command()
        spy_found = shutil.which("py-spy", path=Path(sys.executable).parent) is not None
        self.profiled = profile and spy_found
        if self.profiled:
            spy = str(Path(sys.executable).parent / "py-spy")
            command = [spy, "record", "--format", "raw", "--rate", "200", "--nonblocking",
                       "-o", str(self.profile_path), "--", *command]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self._env(), cwd=self.directory
            )

    @property
    def pid(self) -> int:
        """PID of the Python process itself (the profiler's child when profiled)."""
        assert self.process is not None
        if not self.profiled:
            return self.process.pid
        for _ in range(100):
            for task in Path(f"/proc/{self.process.pid}/task").iterdir():
                children = (task / "children").read_text().split()
                if children:
                    return int(children[0])
            time.sleep(0.05)
        raise RuntimeError("profiled process not found")

    def rss_mib(self) -> float:
        """Resident memory (VmRSS) of the process, in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the process."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    async def stop(self, timeout: float = 20) -> None:  # noqa: ASYNC109
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, RuntimeError):
            os.kill(self.pid, signal.SIGTERM)
        try:
            await asyncio.to_thread(self.process.wait, timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)
        if self.profiled:
            self.profile = self.profile_summary()

    def profile_summary(self, *, top: int = 15, prefixes: Sequence[str] = ()) -> str:
        """The functions that held most samples (py-spy collapsed stacks), inclusive and self."""
        if not self.profile_path.exists():
            return "(no profile)"
        inclusive: collections.Counter[str] = collections.Counter()
        own: collections.Counter[str] = collections.Counter()
        total = 0
        for line in self.profile_path.read_text(encoding="utf-8", errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not count_text.isdigit():
                continue
            count = int(count_text)
            total += count
            frames = [_short_frame(frame) for frame in stack.split(";") if frame]
            for frame in set(frames):
                where = frame.split(" ", 1)[-1]
                if where.startswith(_PLUMBING):
                    continue
                if not prefixes or where.startswith(tuple(prefixes)):
                    inclusive[frame] += count
            if frames:
                own[frames[-1]] += count
        if not total:
            return "(empty profile)"
        rows = [(f"{n / total:.0%}", f"`{frame}`") for frame, n in inclusive.most_common(top)]
        rows_own = [(f"{n / total:.0%}", f"`{frame}`") for frame, n in own.most_common(top)]
        return (
            f"{total} samples of the bot's busy time (idle waits excluded).\n\n"
            + "Inclusive (a function and what it calls):\n\n"
            + table(["share", "function (file)"], rows)
            + "\n\nSelf (where the CPU actually was):\n\n"
            + table(["share", "function (file)"], rows_own)
        )


# Frames every stack goes through: left out of the inclusive table.
_PLUMBING = ("<frozen", "asyncio/", "runpy", "bot/__main__.py", "bot/cli.py", "selectors.py")


def _short_frame(frame: str) -> str:
    """``func (path/to/module.py:12)`` → ``func (module path relative to a package)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/lib/python3.11/", str(REPO) + "/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} {where}"


class BotProcess(_Process):
    """The real Concerto bot, started like a deployer does: ``config.example.toml`` as shipped,
    and through the environment only what a deployment sets for itself (see
    ``bot.tools.shipped_config``) and the password. Every other value — pacing included — is the
    shipped default, so the figures are what a deployer gets."""

    name = "concerto"

    def __init__(self, server: LocalHomeserver, account: RegisteredUser, directory: Path) -> None:
        super().__init__(directory)
        self.server = server
        self.account = account
        self.config_path = directory / "config.toml"
        self.config_path.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
        self.environment = {
            **environment(
                {
                    ("matrix", "homeserver"): server.url,
                    ("matrix", "user_id"): account.user_id,
                    ("matrix", "device_name"): "concerto-bench",
                    ("bot", "allowed_inviters"): f"@.*:{server.server_name}",
                    ("storage", "data_dir"): str(directory / "data"),
                    ("logging", "level"): "INFO",
                }
            ),
            env_name("matrix", "password"): account.password,
        }

    @property
    def user_id(self) -> str:
        return self.account.user_id

    @property
    def database_path(self) -> Path:
        return self.directory / "data" / "concerto.db"

    def start(self, *, profile: bool = False) -> None:
        """Start the bot; refuses a configuration that departs from the shipped defaults."""
        departed = departures(self.config_path, self.environment)
        if departed:
            raise RuntimeError(f"the benchmarked bot departs from config.example.toml: {departed}")
        super().start(profile=profile)

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "bot", "--config", str(self.config_path)]

    def _env(self) -> dict[str, str]:
        # The developer's own CONCERTO_* settings must not reach the benchmarked bot.
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        env.update(self.environment)
        env["PYTHONPATH"] = str(REPO)
        return env


class EchoBotProcess(_Process):
    """``benchmarks/echo_bot.py``: the smallest matrix-nio bot, for comparison."""

    name = "echo"

    def __init__(
        self,
        server: LocalHomeserver,
        account: RegisteredUser,
        directory: Path,
        reply: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(directory)
        self.server = server
        self.account = account
        self.reply = reply  # None: "pong"

    @property
    def user_id(self) -> str:
        return self.account.user_id

    def _command(self) -> list[str]:
        return [sys.executable, str(REPO / "benchmarks" / "echo_bot.py"), self.server.url]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["ECHO_BOT_USER_ID"] = self.account.user_id
        env["ECHO_BOT_DEVICE_ID"] = self.account.device_id
        env["ECHO_BOT_ACCESS_TOKEN"] = self.account.access_token
        if self.reply is not None:
            env["ECHO_BOT_REPLY"] = json.dumps(self.reply)
        return env


async def same_reply_echo_bot(
    server: LocalHomeserver,
    folder: Path,
    owner: Person,
    concerto_room: str,
    concerto_id: str,
    command: str,
    *members: Person,
) -> tuple[EchoBotProcess, str]:
    """An echo bot answering with exactly what Concerto sends for ``command``, started, and
    its own room with ``members``."""
    bot = EchoBotProcess(
        server,
        await register(server, "echo-sized"),
        folder / "echo-sized",
        reply=await concerto_reply(owner, concerto_room, concerto_id, command),
    )
    bot.start()
    return bot, await room_with(owner, bot.user_id, "echo-sized", *members)


async def concerto_reply(person: Person, room_id: str, bot_id: str, command: str) -> dict[str, Any]:
    """What Concerto sends for ``command`` (relation and marker aside), so an echo bot can send
    exactly the same and the homeserver's cost of the message is the same for both."""
    asked = await person.send_text(room_id, command)
    reply = await person.wait_for(room_id, reply_to(bot_id, asked), timeout=60)
    return {
        key: value
        for key, value in reply["content"].items()
        if key not in ("m.relates_to", "org.concerto.txn")
    }


async def room_with(owner: Person, bot_id: str, name: str, *members: Person) -> str:
    """A room created by ``owner`` with the bot (waited for) and ``members`` joined."""
    room_id = await owner.create_room(name, invite=[bot_id, *(m.user_id for m in members)])
    for member in members:
        await member.join(room_id)
    await owner.wait_for(room_id, joined(bot_id), timeout=60)
    return room_id
