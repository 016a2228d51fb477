"""The ``shopbot`` command line.

Subcommands:
    token SUBJECT [--role buyer|seller] [--ttl SECONDS]
        print a token signed with the configured secret.
    db upgrade
        build or migrate the order database schema (Alembic).
    db import FILE
        import orders in the format of shared/spec/orders.md.
    db export [FILE]
        write the database in that format (stdout without FILE; JSON for .json).
    chat [--url URL] [--buyer ID]
        talk to the running bot in the terminal as a buyer of this machine.
    dev-token rasa|agent
        print the Rasa API token or the agent token: the configured one, or
        the local development one kept in the var folder (``make run``).

Exit codes: 0 success, 1 a user error (message on stderr), 2 usage.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from bot.auth import ROLES, mint_token
from bot.settings import SettingsError, load_settings

logger = logging.getLogger("shopbot")


def _cmd_token(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        token = mint_token(
            settings.signing_secret(), args.subject, role=args.role, ttl_seconds=args.ttl
        )
    except ValueError as exc:
        print(f"shopbot token: {exc}", file=sys.stderr)
        return 1
    print(token)
    return 0


def _cmd_dev_token(args: argparse.Namespace) -> int:
    settings = load_settings()
    print(settings.rasa_api_token() if args.which == "rasa" else settings.agent_api_token())
    return 0


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot.db.migrate import upgrade

    settings = load_settings()
    upgrade(settings.db_url)
    print("database schema is at the newest revision")
    return 0


def _cmd_db_import(args: argparse.Namespace) -> int:
    from bot.db.migrate import upgrade
    from bot.db.session import session_scope
    from bot.importer import ImportFormatError, import_file

    settings = load_settings()
    upgrade(settings.db_url)
    try:
        with session_scope(settings.db_url) as session:
            report = import_file(Path(args.file), session)
    except ImportFormatError as exc:
        print(f"shopbot db import: {args.file}: nothing was imported", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"shopbot db import: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


def _cmd_db_export(args: argparse.Namespace) -> int:
    from bot.db.migrate import upgrade
    from bot.db.session import session_scope
    from bot.exporter import write_export

    settings = load_settings()
    upgrade(settings.db_url)
    path = None if args.file in (None, "-") else Path(args.file)
    try:
        with session_scope(settings.db_url) as session:
            text = write_export(session, path)
    except OSError as exc:
        print(f"shopbot db export: cannot write {args.file}: {exc}", file=sys.stderr)
        return 1
    if path is None:
        sys.stdout.write(text)
    return 0


def _cmd_chat(args: argparse.Namespace) -> int:
    from bot.chat import run_chat

    settings = load_settings()
    return run_chat(settings, url=args.url, buyer_id=args.buyer)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``shopbot`` command."""
    parser = argparse.ArgumentParser(prog="shopbot", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    token = sub.add_parser("token", help="print a signed buyer/seller token")
    token.add_argument("subject", help="buyer or seller id (the token's sub)")
    token.add_argument("--role", choices=ROLES, default="buyer")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.set_defaults(func=_cmd_token)

    dev = sub.add_parser("dev-token", help="print the Rasa API or agent token (dev)")
    dev.add_argument("which", choices=("rasa", "agent"))
    dev.set_defaults(func=_cmd_dev_token)

    db = sub.add_parser("db", help="order database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="create or migrate the schema").set_defaults(
        func=_cmd_db_upgrade
    )
    imp = db_sub.add_parser("import", help="import orders (YAML or JSON)")
    imp.add_argument("file")
    imp.set_defaults(func=_cmd_db_import)
    exp = db_sub.add_parser("export", help="export orders and claims (YAML or JSON)")
    exp.add_argument("file", nargs="?", help="output file; stdout when omitted or -")
    exp.set_defaults(func=_cmd_db_export)

    chat = sub.add_parser("chat", help="talk to the running bot as a local buyer")
    chat.add_argument("--url", default="http://127.0.0.1:5005")
    chat.add_argument("--buyer", default="buyer_001")
    chat.set_defaults(func=_cmd_chat)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; return the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    try:
        result: int = args.func(args)
    except SettingsError as exc:
        print(f"shopbot: {exc}", file=sys.stderr)
        return 1
    return result


def _entry() -> None:  # pragma: no cover - console entry
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    _entry()


__all__: List[str] = ["build_parser", "main"]
