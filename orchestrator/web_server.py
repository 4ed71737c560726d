"""Daphne, the web process, on a host and port: the one place that starts it (the Procfile of
``./dev start`` and ``flowbuilder start``, ``flowbuilder web``, the tests' stack).

Daphne's ``-b/-p`` listen with Twisted's default backlog of 50 connections waiting to be
accepted. A burst of new connections larger than that (a page's requests and sockets times a few
users, a webhook storm) overflows the kernel's accept queue while the process is busy: the
overflowing handshakes are dropped, and a client that already sent its request can read a reset
instead of a response. The endpoint names its backlog (``WEB_LISTEN_BACKLOG``, default 1024; the
kernel caps it at ``net.core.somaxconn``).
"""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_BACKLOG = 1024
APPLICATION = "orchestrator.asgi:application"


def backlog() -> int:
    raw = os.environ.get("WEB_LISTEN_BACKLOG", "").strip()
    if not raw:
        return DEFAULT_BACKLOG
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"error: WEB_LISTEN_BACKLOG must be a whole number, not {raw!r}") from None
    if value < 1:
        raise SystemExit(f"error: WEB_LISTEN_BACKLOG must be at least 1, not {value}")
    return value


def endpoint(host: str, port: int, listen_backlog: int) -> str:
    """A Twisted server endpoint string; an IPv6 address's colons are escaped."""
    interface = host.replace(":", r"\:")
    return f"tcp:port={int(port)}:interface={interface}:backlog={int(listen_backlog)}"


def daphne_argv(host: str, port: int) -> list[str]:
    """``python -m daphne …`` with this Python, so the installed packages are found."""
    return [sys.executable, "-m", "daphne", "-e", endpoint(host, port, backlog()), APPLICATION]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.web_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    args = parser.parse_args(argv)
    command = daphne_argv(args.host, args.port)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
