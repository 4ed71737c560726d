"""The ``flowbuilder`` command of an installed package (``pip install flowbuilder``)::

    flowbuilder start               what ./dev start does: migrate, the first login, then Daphne,
                                    a Celery worker and beat (and a Redis if none answers)
    flowbuilder web [--host H] [--port P]   Daphne alone (containers)
    flowbuilder worker [celery options]     a Celery worker
    flowbuilder beat [celery options]       Celery beat (exactly one per installation)
    flowbuilder migrate             create or update the database
    flowbuilder run flow.json …     run a flow file in this process (the engine's CLI)
    flowbuilder manage <command> …  any Django management command (createsuperuser, …)

Everything it writes (the SQLite database, the secret keys it makes, the first login, collected
static files, metrics) goes to VAR_DIR, by default ``$XDG_DATA_HOME/flowbuilder`` (that is,
``~/.local/share/flowbuilder``), whatever folder it is started from.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
from pathlib import Path


def data_dir() -> Path:
    explicit = os.environ.get("VAR_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_DATA_HOME", "").strip() or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "flowbuilder"


def _kept_secret(directory: Path, name: str, make: str) -> str:
    """A key made once and kept (mode 600) in the data directory, as ./dev start does."""
    path = directory / name
    if not path.is_file() or not path.read_text().strip():
        path.write_text(make + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def _environment(role: str | None) -> Path:
    directory = data_dir()
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["VAR_DIR"] = str(directory)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    if role:
        os.environ["FLOWBUILDER_PROCESS"] = role
    return directory


def _django(*argv: str) -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command(*argv)


def _exec(*argv: str) -> None:
    """Become ``python -m <argv>`` (this Python, so the installed packages are found)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", *argv])


def start(args: argparse.Namespace) -> int:
    directory = _environment(None)
    if not os.environ.get("SECRET_KEY", "").strip():
        os.environ["SECRET_KEY"] = _kept_secret(directory, "secret-key", secrets.token_urlsafe(50))
    if not os.environ.get("CREDENTIALS_KEY", "").strip():
        from cryptography.fernet import Fernet

        made = Fernet.generate_key().decode()
        os.environ["CREDENTIALS_KEY"] = _kept_secret(directory, "credentials-key", made)
    os.environ["PORT"] = str(args.port)
    if args.host:
        os.environ["HOST"] = args.host
    # The metrics of an earlier start (prometheus multiprocess files): counters start at zero.
    shutil.rmtree(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or directory / "metrics", True)
    print(f"==> data: {directory}", file=sys.stderr)
    _django("migrate", "--noinput")
    _django("collectstatic", "--noinput", "-v0")
    _django("first_login")
    from orchestrator import devserver

    return devserver.main()


def web(args: argparse.Namespace) -> int:
    _environment(None)  # Daphne's process takes the web role itself (orchestrator/asgi.py)
    from orchestrator.web_server import main

    return main(["--host", args.host, "--port", str(args.port)])


def celery(role: str, extra: list[str]) -> int:
    _environment(role)
    _exec("celery", "-A", "orchestrator", role, *(extra or ["-l", "info"]))
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowbuilder",
        description="Build AI flows on a canvas and run them on Celery workers.",
        epilog=f"Data directory (VAR_DIR): {data_dir()}",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    begin = commands.add_parser("start", help="set up and start everything on this machine")
    begin.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    begin.add_argument("--host", default="", help="address to serve on (default 127.0.0.1)")
    serve = commands.add_parser("web", help="Daphne (HTTP and WebSockets) alone")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    # These hand their options (-h included) to Celery, the engine's CLI and Django.
    for role in ("worker", "beat"):
        commands.add_parser(role, add_help=False, help=f"Celery {role} (options go to Celery)")
    commands.add_parser("migrate", help="create or update the database")
    commands.add_parser(
        "run", add_help=False, help="run a flow file in this process (`flowbuilder run -h`)"
    )
    commands.add_parser("manage", add_help=False, help="a Django command, e.g. createsuperuser")
    return parser


def commands() -> list[str]:
    """The subcommands (the image and docker-compose.yml use these)."""
    parser = build_parser()
    found = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(found.choices)


def main(argv: list[str] | None = None) -> int:
    args, rest = build_parser().parse_known_args(argv)
    if args.command == "start":
        return start(args)
    if args.command == "web":
        return web(args)
    if args.command in ("worker", "beat"):
        return celery(args.command, rest)
    if args.command == "migrate":
        _environment(None)
        _django("migrate", "--noinput", *rest)
        return 0
    if args.command == "manage":
        _environment(None)
        from django.core.management import execute_from_command_line

        execute_from_command_line(["flowbuilder manage", *rest])
        return 0
    from runtime.cli import main as engine

    return engine(["run", *rest])


if __name__ == "__main__":
    sys.exit(main())
