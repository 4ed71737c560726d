"""``python manage.py run_workflow <workflow id> --input '{…}'``: start a run on the workers and
follow its events in the terminal until it ends."""

from __future__ import annotations

import json
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from editor.errors import OperationError
from editor.models import Workflow
from orchestrator import runs
from orchestrator.models import Event, Run
from runtime.cli import add_budget_arguments, budget_from_arguments


class Command(BaseCommand):
    help = "Start a run of a workflow on the Celery workers and follow it until it ends."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workflow", help="the workflow's id")
        parser.add_argument("--input", default="{}", help="the run input as JSON")
        parser.add_argument(
            # not --version: Django's commands use that for their own version
            "--workflow-version",
            dest="run_version",
            help='"published", "latest" or a version number (default: the published version '
            "if there is one, else the latest)",
        )
        parser.add_argument("--user", help="run as this username (default: the first superuser)")
        parser.add_argument("--json", action="store_true", help="print events as JSON lines")
        parser.add_argument("--timeout", type=float, default=3600, help="stop following after N s")
        # The same flags, checks and messages as ``python -m runtime run``.
        add_budget_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run_input = json.loads(options["input"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--input is not JSON: {exc.msg} (column {exc.colno})") from None
        try:
            workflow = Workflow.objects.select_related("current_version", "published_version").get(
                pk=options["workflow"]
            )
        except (Workflow.DoesNotExist, ValueError, Exception) as exc:
            if isinstance(exc, CommandError):
                raise
            raise CommandError(f"no workflow {options['workflow']!r}") from None
        user = self._user(options.get("user"))
        try:
            run = runs.start_run(
                workflow,
                run_input,
                actor=user,
                via="command",
                budget=budget_from_arguments(options),
                version=_version_choice(options.get("run_version")),
            )
        except OperationError as exc:
            problems = [
                f"  - {field}: {message}"
                for field, messages in (exc.fields or {}).items()
                for message in messages
            ]
            raise CommandError("\n".join([exc.message, *problems])) from None
        self.stdout.write(f"run {run.pk} started ({workflow.name}, version {run.version.number})")
        self._follow(run, options["json"], options["timeout"])

    def _user(self, username: str | None) -> Any:
        users = get_user_model().objects
        if username:
            try:
                return users.get(username=username)
            except users.model.DoesNotExist:
                raise CommandError(f"no user {username!r}") from None
        return users.filter(is_superuser=True).order_by("pk").first()

    def _follow(self, run: Run, as_json: bool, timeout: float) -> None:
        last = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in Event.objects.filter(run=run, seq__gt=last).order_by("seq"):
                last = event.seq
                message = event.to_message()
                if as_json:
                    self.stdout.write(json.dumps(message, default=str))
                else:
                    self.stdout.write(_describe(message))
            run.refresh_from_db(fields=["status", "output", "error", "last_seq"])
            if run.is_finished and last >= run.last_seq:
                break
            if run.status == "waiting" and last >= run.last_seq:
                self.stdout.write("the run waits for a person; follow it in the browser")
                return
            time.sleep(0.2)
        else:
            raise CommandError(f"stopped following after {timeout} s; the run goes on")
        if not as_json:
            output = run.output if isinstance(run.output, str) else json.dumps(run.output, indent=2)
            self.stdout.write(f"\nstatus {run.status}\n\nOutput:\n{output}")
        if run.status != "succeeded":
            raise CommandError(f"run {run.status}: {(run.error or {}).get('message', '')}")


def _describe(message: dict[str, Any]) -> str:
    data = message["data"] or {}
    step = message["step"]
    kind = message["type"]
    if kind == "step.succeeded":
        figures = f"{data.get('duration_ms') or 0:.0f} ms"
        if data.get("model"):
            figures += f", {data['model']}, {data['tokens_in']}→{data['tokens_out']} tokens"
        return f"✔ {step} succeeded ({figures})"
    if kind == "step.failed":
        return f"✘ {step} failed: {data['error']['message']}"
    if kind == "step.retrying":
        return f"↻ {step} retrying in {data['delay']:.1f} s: {data['error']['message']}"
    if step:
        return f"· {step} {kind.removeprefix('step.')}"
    return f"■ run {kind.removeprefix('run.')}"


def _version_choice(raw: str | None) -> str | int | None:
    if raw is None or raw in (runs.PUBLISHED, runs.LATEST):
        return raw
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    raise CommandError(
        f'--workflow-version is "published", "latest" or a version number, not {raw!r}'
    )
