"""``manage.py beat_health``: exit 0 while beat's heartbeat is fresh (orchestrator.beat), 1
otherwise, saying why. The compose file's health check of the beat container runs it there, with
``--here``: the heartbeat must come from this host, not from a beat elsewhere."""

from __future__ import annotations

import socket
from typing import Any

import redis
from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator.beat import HEARTBEAT_SECONDS, last_heartbeat

DEFAULT_MAX_AGE = 60.0


class Command(BaseCommand):
    help = "Check that Celery beat is alive: its heartbeat in Redis is recent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--max-age",
            type=float,
            default=DEFAULT_MAX_AGE,
            help=f"seconds a heartbeat may be old (beat writes one every {HEARTBEAT_SECONDS:g} s)",
        )
        parser.add_argument(
            "--here", action="store_true", help="the heartbeat must come from this host"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["max_age"] <= 0:
            raise CommandError("--max-age must be more than 0 seconds")
        try:
            beat = last_heartbeat()
        except redis.RedisError as exc:
            raise CommandError(f"beat: Redis does not answer ({exc.__class__.__name__})") from None
        if beat is None:
            raise CommandError("beat: no heartbeat; is `flowbuilder beat` running?")
        age = beat.age()
        if age > options["max_age"]:
            raise CommandError(
                f"beat: the last heartbeat is {age:.0f} s old (from {beat.host}, pid {beat.pid})"
            )
        host = socket.gethostname()
        if options["here"] and beat.host != host:
            raise CommandError(
                f"beat: the heartbeat comes from {beat.host}, not this host ({host}); is this "
                "container's beat running, and is another one running elsewhere?"
            )
        self.stdout.write(f"beat: alive ({beat.host}, pid {beat.pid}, {age:.1f} s ago)")
