"""The `concerto` command: run, check-config, health, sandbox, export, reference."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TextIO

from bot.runtime.config import Config, ConfigError, MissingConfigError, WebConfig, load_config
from bot.runtime.logs import setup_logging


def _config_path(value: str | None) -> tuple[Path, bool]:
    """The configuration file, and whether it was named (then it must exist)."""
    named = value or os.environ.get("CONCERTO_CONFIG")
    return Path(named or "config.toml"), bool(named)


def _load(args: argparse.Namespace, *, report: TextIO | None = None) -> Config | int:
    """The configuration, or the exit code after saying what is wrong: 2 for a missing file
    (one line), 1 for mistakes in it (one line per key)."""
    path, explicit = _config_path(args.config)
    report = report or sys.stderr
    try:
        return load_config(path, explicit=explicit)
    except MissingConfigError as error:
        print(f"concerto: {error.message}", file=sys.stderr)
        return 2
    except ConfigError as error:
        print(f"{path}: {len(error.problems)} problem(s):", file=report)
        for problem in error.problems:
            print(f"  - {problem}", file=report)
        return 1


def cmd_run(args: argparse.Namespace) -> int:
    from bot.runtime.app import App

    config = _load(args)
    if isinstance(config, int):
        return config
    setup_logging(
        config.logging.level,
        config.logging.format,
        [config.matrix.password, config.matrix.access_token],
    )
    return asyncio.run(App(config).run())


def cmd_check_config(args: argparse.Namespace) -> int:
    path, _explicit = _config_path(args.config)
    config = _load(args, report=sys.stdout)
    if isinstance(config, int):
        return config
    shown = path if path.exists() else "environment"
    print(f"{shown}: configuration is valid.\n{config.summary()}")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    """Exit 0 while the bot is healthy (Docker HEALTHCHECK): with the web service on, what its
    /healthz says (sync, database, outbox); otherwise, while the sync loop's heartbeat in the
    data dir is fresh."""
    from bot.matrix.sync import heartbeat_age

    config = _load(args)
    if isinstance(config, int):
        return config
    if config.web.enabled:
        return _web_health(config.web)
    age = heartbeat_age(config.data_path)
    if age is None:
        print("unhealthy: no heartbeat yet (the bot has not synced)", file=sys.stderr)
        return 1
    if age > args.max_age:
        print(f"unhealthy: last sync {age:.0f} s ago", file=sys.stderr)
        return 1
    print(f"healthy: last sync {age:.0f} s ago")
    return 0


def _web_health(web: WebConfig) -> int:
    import urllib.error
    import urllib.request

    host, port = web.address()
    if host in ("", "0.0.0.0", "::"):  # listening everywhere: ask it locally
        host = "127.0.0.1" if host != "::" else "::1"
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            print(f"healthy: {response.read().decode('utf-8', 'replace')}")
            return 0
    except urllib.error.HTTPError as error:
        print(f"unhealthy: {error.read().decode('utf-8', 'replace')}", file=sys.stderr)
    except OSError as error:
        print(f"unhealthy: no answer from {url} ({error})", file=sys.stderr)
    return 1


def cmd_sandbox(args: argparse.Namespace) -> int:
    from bot.tools.sandbox import run_sandbox

    return run_sandbox(Path(args.dir), port=args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="concerto", description="Concerto Matrix bot")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot")
    run.add_argument("--config", "-c", help="configuration file (default config.toml)")
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check-config", help="validate the configuration")
    check.add_argument("--config", "-c", help="configuration file (default config.toml)")
    check.set_defaults(func=cmd_check_config)
    health = sub.add_parser("health", help="exit 0 while the bot syncs (container health check)")
    health.add_argument("--config", "-c", help="configuration file (default config.toml)")
    health.add_argument(
        "--max-age", type=float, default=120, help="seconds since the last sync (default 120)"
    )
    health.set_defaults(func=cmd_health)
    sandbox = sub.add_parser("sandbox", help="try Concerto on a throwaway local homeserver")
    sandbox.add_argument("--dir", default=".sandbox", help="working folder (default .sandbox)")
    sandbox.add_argument("--port", type=int, default=8008, help="homeserver port (default 8008)")
    sandbox.set_defaults(func=cmd_sandbox)
    export = sub.add_parser(
        "export", help="export data for organisers (proposals, closed polls and decisions)"
    )
    export.add_argument("what", choices=["proposals", "decisions"], help="what to export")
    export.add_argument("--room", help="only this room ID (default: every room)")
    export.add_argument("--format", choices=["csv", "json", "md", "decidim"], default="csv")
    export.add_argument(
        "--locale",
        help="with --format decidim: your Decidim organisation's default locale "
        "(default: bot.language)",
    )
    export.add_argument("--config", "-c", help="configuration file (default config.toml)")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    export.set_defaults(func=cmd_export)
    reference = sub.add_parser("reference", help="print the command, settings and config tables")
    reference.add_argument("--language", "-l", choices=["fr", "en"], default="fr")
    reference.add_argument("--update", metavar="PAGE", help="rewrite that page's generated part")
    reference.set_defaults(func=cmd_reference)
    return parser


def cmd_reference(args: argparse.Namespace) -> int:
    from bot.tools.reference import render_reference, update_file

    if args.update:
        changed = update_file(Path(args.update), args.language)
        print(f"{args.update}: {'updated' if changed else 'already up to date'}", file=sys.stderr)
    else:
        sys.stdout.write(render_reference(args.language))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from bot.tools.export import run_export
    from bot.tools.export_decisions import run_export_decisions

    config = _load(args)
    if isinstance(config, int):
        return config
    if args.what == "decisions":
        return run_export_decisions(
            config.database_url, room_id=args.room, fmt=args.format, output=args.output
        )
    return run_export(
        config.database_url,
        what=args.what,
        room_id=args.room,
        fmt=args.format,
        output=args.output,
        locale=args.locale or config.bot.language,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
