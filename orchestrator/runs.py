"""What people do to runs: start one and cancel one, the same way from the API, webhooks and the
command line, each with its audit entry.

One transaction writes the change and its audit entry: a run that starts is recorded, a refused
one leaves nothing. Refusals come out as :class:`OperationError` (the API's error shape; the
command prints the message and each field's problems).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from editor.audit import record
from editor.errors import Conflict, NotFound, OperationError
from editor.pins import pins_for
from orchestrator import tracing, transitions
from orchestrator.models import Run, RunStartKey
from orchestrator.plans import compiled
from orchestrator.progress import start_roots
from orchestrator.subflows import subflow_versions
from orchestrator.unit_of_work import RunTransaction
from runtime.errors import GraphValidationError, PermanentError
from runtime.graph import json_kind
from runtime.plan import Plan
from runtime.run_input import input_problems, prepare_input

# Which version a start runs (``version=``): the published one, the latest saved, or a number.
# Left out, a start runs the published version when there is one, else the latest
# (Workflow.trigger_version): webhooks, the MCP endpoint and API calls that name none.
PUBLISHED = "published"
LATEST = "latest"

# How long a run start's Idempotency-Key is remembered, and how long a key may be.
START_KEY_HOURS = 24
MAX_KEY_CHARS = 200


class RunNotStartable(OperationError):
    code = "not_runnable"


class GraphNotRunnable(RunNotStartable):
    code = "invalid_graph"


def start_run(
    workflow: Any,
    run_input: Any,
    *,
    actor: Any,
    via: str,
    budget: dict[str, Any] | None = None,
    audit: dict[str, Any] | None = None,
    use_pins: bool = False,
    version: str | int | None = None,
) -> Run:
    """Start a run as ``actor`` (``via`` session, token, webhook or command; ``audit`` adds to
    the entry's detail). ``version``: PUBLISHED, LATEST, a version number, or None for the
    published version if any, else the latest (what triggers run; the editor's Run asks for
    LATEST). ``use_pins``: pinned nodes give their pinned output instead of executing
    (editor.pins). Raises RunNotStartable."""
    if not isinstance(run_input, dict):
        # Templates read the input's fields (input.topic): a list or a bare value would run
        # with every field empty instead of being refused.
        raise RunNotStartable(
            f"the run input must be a JSON object of fields, not {json_kind(run_input)}",
            fields={"input": ["must be a JSON object"]},
            code="invalid_input",
        )
    chosen = _chosen(workflow, version)
    try:
        plan = compiled(chosen).plan
    except GraphValidationError as exc:
        raise _graph_refusal(exc, workflow, chosen) from None
    except PermanentError as exc:
        raise RunNotStartable(str(exc)) from None
    problems = input_problems(plan, run_input)
    if problems:
        # A missing or mistyped field would fail the Input step (or read as empty text): say so
        # now, by field, and start nothing.
        raise RunNotStartable(
            "the run input does not fit the workflow's input fields",
            fields=problems,
            code="invalid_input",
        )
    # Everything that can refuse the start ran above, before any write, so no savepoint is
    # needed (a caller's transaction, the webhook's, simply holds these writes too).
    with transaction.atomic(savepoint=False):
        pinned = pins_for(workflow, plan.nodes) if use_pins else {}
        run = _insert(workflow, chosen, plan, run_input, actor, budget, pinned)
        record(
            "run.started",
            actor=actor,
            workspace=workflow.workspace,
            target=run,
            target_label=f"{workflow.name} (v{chosen.number})",
            via=via,
            detail={"workflow": str(workflow.pk), **(audit or {})},
        )
    return run


def start_run_once(
    workflow: Any,
    run_input: Any,
    *,
    key: str | None,
    actor: Any,
    via: str,
    budget: dict[str, Any] | None = None,
    audit: dict[str, Any] | None = None,
    use_pins: bool = False,
    version: str | int | None = None,
) -> tuple[Run, bool]:
    """:func:`start_run` for a request that carries an ``Idempotency-Key``: the first request
    with the key starts the run, a repeat within START_KEY_HOURS gets that run back (True: a
    replay) whether the first has committed yet or not. The key used again for another request
    (another workflow, input or budget) is refused with 409."""
    if key is None:
        return start_run(
            workflow,
            run_input,
            actor=actor,
            via=via,
            budget=budget,
            audit=audit,
            use_pins=use_pins,
            version=version,
        ), False
    key = _checked_key(key)
    fingerprint = _fingerprint(workflow, run_input, budget, use_pins, version)
    known = _known_key(workflow.workspace_id, key)
    if known is not None:
        return _replayed(known, fingerprint), True
    try:
        # A savepoint: when a twin request with the same key commits first, this one's run is
        # undone and the twin's is answered.
        with transaction.atomic():
            RunStartKey.objects.filter(
                workspace_id=workflow.workspace_id, key=key, created_at__lt=_key_cutoff()
            ).delete()
            run = start_run(
                workflow,
                run_input,
                actor=actor,
                via=via,
                budget=budget,
                audit=audit,
                use_pins=use_pins,
                version=version,
            )
            RunStartKey.objects.create(
                workspace_id=workflow.workspace_id, key=key, fingerprint=fingerprint, run=run
            )
    except IntegrityError:
        known = _known_key(workflow.workspace_id, key)
        if known is None:
            raise
        return _replayed(known, fingerprint), True
    return run, False


def forget_start_keys(limit: int = 5000) -> int:
    """Delete Idempotency-Keys older than START_KEY_HOURS (the sweeper calls it)."""
    old = RunStartKey.objects.filter(created_at__lt=_key_cutoff()).values_list("pk", flat=True)
    return RunStartKey.objects.filter(pk__in=list(old[:limit])).delete()[0]


def _checked_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable() or not key.isascii():
        raise OperationError(
            f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable ASCII characters",
            fields={"Idempotency-Key": ["not a usable key"]},
            code="invalid_idempotency_key",
        )
    return key


def _fingerprint(
    workflow: Any,
    run_input: Any,
    budget: dict[str, Any] | None,
    use_pins: bool,
    version: str | int | None,
) -> str:
    request = {"workflow": str(workflow.pk), "input": run_input, "budget": budget or None}
    if use_pins:
        request["use_pins"] = True
    if version is not None:
        request["version"] = version
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _key_cutoff() -> Any:
    return timezone.now() - timedelta(hours=START_KEY_HOURS)


def _known_key(workspace_id: Any, key: str) -> RunStartKey | None:
    return (
        RunStartKey.objects.select_related("run__version")
        .filter(workspace_id=workspace_id, key=key, created_at__gte=_key_cutoff())
        .first()
    )


def _replayed(known: RunStartKey, fingerprint: str) -> Run:
    if known.fingerprint != fingerprint:
        raise Conflict(
            "this Idempotency-Key was already used to start another run with a different "
            "workflow, input or budget; use a new key for a new request",
            code="idempotency_key_reused",
        )
    return known.run


def cancel_run(run: Run, *, actor: Any, via: str) -> None:
    """Cancel a run as ``actor``. Raises Conflict when it had already finished."""
    with transaction.atomic():
        if not transitions.cancel_run(run.pk):
            status = Run.objects.values_list("status", flat=True).get(pk=run.pk)
            raise Conflict(f"the run has already {status}")
        record(
            "run.cancelled",
            actor=actor,
            workspace=run.workspace,
            target=run,
            target_label=f"{run.workflow.name} (v{run.version.number})",
            via=via,
            detail={"workflow": str(run.workflow_id)},
        )


def _chosen(workflow: Any, which: str | int | None) -> Any:
    """The version a run of the workflow would pin (see start_run's ``version``)."""
    if which is None:
        version = workflow.trigger_version
    elif which == LATEST:
        version = workflow.current_version
    elif which == PUBLISHED:
        version = workflow.published_version
        if version is None:
            # 409: the request is well formed, the workflow is not in that state
            raise Conflict(
                "this workflow has no published version: publish one in Versions, or ask for "
                'the latest saved version with "version": "latest"',
                fields={"version": ["nothing is published"]},
                code="not_published",
            )
    else:
        version = workflow.versions.filter(number=which).first()
        if version is None:
            # 404, as the same number in a version's URL answers
            raise NotFound(
                f"this workflow has no version {which}",
                fields={"version": [f"no version {which}"]},
            )
    if version is None:
        raise RunNotStartable("the workflow has no saved version to run")
    return version


def _insert(
    workflow: Any,
    version: Any,
    plan: Plan,
    run_input: dict[str, Any],
    user: Any,
    budget: dict[str, Any] | None,
    pinned: dict[str, Any],
) -> Run:
    run_input = prepare_input(plan, run_input)
    run = Run(
        workspace=workflow.workspace,
        workflow=workflow,
        version=version,
        status="running",
        input=run_input,
        budget=budget or None,
        reuse={"mode": "pinned", "forced": [], "edited": {}, "pinned": pinned} if pinned else None,
        flow_versions=subflow_versions(workflow.workspace_id, plan),
        created_by=user if getattr(user, "is_authenticated", False) else None,
        started_at=timezone.now(),
    )
    run.trace_parent = tracing.run_started(run, workflow.name)  # the run's trace, for its steps
    # The run, its first steps and events are inserted at the end, one statement each; the
    # object returned is the one written (last_seq included).
    with RunTransaction.starting(run) as txn:
        txn.emit("run.started", data={"input": run_input, "version": version.number})
        start_roots(txn)
    return run


def _graph_refusal(exc: GraphValidationError, workflow: Any, version: Any) -> GraphNotRunnable:
    fields: dict[str, list[str]] = {}
    for issue in exc.issues:
        key = (
            f"nodes.{issue.node_id}"
            if issue.node_id
            else f"edges.{issue.edge_id}"
            if issue.edge_id
            else "graph"
        )
        fields.setdefault(key, []).append(issue.message)
    count = len(exc.issues)
    which = (
        "the workflow's current version"
        if version.pk == workflow.current_version_id
        else f"version {version.number} of the workflow"
    )
    return GraphNotRunnable(
        f"{which} has {count} problem(s); fix them and save before running",
        fields=fields,
    )
