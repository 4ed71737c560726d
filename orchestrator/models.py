"""The run side: a Run of a pinned workflow version, its Steps, and its append-only Event log.

Everything about a run lives in the database; Redis only carries messages. Step transitions are
conditional updates (see :mod:`orchestrator.transitions`), so a redelivered Celery task or a
worker that lost its lease can never finish a step twice.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from runtime.events import RUN_STATUSES, STEP_STATUSES


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(value, value) for value in values]


class Run(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("editor.Workspace", on_delete=models.CASCADE, related_name="runs")
    workflow = models.ForeignKey("editor.Workflow", on_delete=models.CASCADE, related_name="runs")
    # Deleting a workflow deletes its versions and its runs with them (as n8n deletes a
    # workflow's executions); a version is never deleted on its own.
    version = models.ForeignKey(
        "editor.WorkflowVersion", on_delete=models.CASCADE, related_name="runs"
    )
    status = models.CharField(max_length=16, choices=_choices(RUN_STATUSES), default="queued")
    input = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    output = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    error = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    cost = models.FloatField(default=0.0)
    by_model = models.JSONField(default=dict, blank=True)
    # Limits for the whole run ({"max_tokens": …, "max_cost": …}); see runtime.budget.Budget.
    budget = models.JSONField(null=True, blank=True)
    # The last event number handed out; bumped under this row's lock, so seqs have no gaps.
    last_seq = models.BigIntegerField(default=0)
    # Time travel (orchestrator.reruns): the run this one was made from, the step it re-runs
    # from, and what it may reuse ({"mode", "forced", "edited", "pinned"}; see runtime.reuse).
    source_run = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reruns"
    )
    source_step = models.CharField(max_length=200, blank=True, default="")
    reuse = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    # The version each sub-flow of the run runs, by workflow id, fixed when the run starts.
    flow_versions = models.JSONField(default=dict, blank=True)
    reused_steps = models.PositiveIntegerField(default=0)
    reused_cost = models.FloatField(default=0.0)  # what the reused steps cost when they ran
    # The W3C traceparent of the run's span (orchestrator.tracing): its steps' spans, on any
    # worker, are its children. Empty when tracing was off at the start.
    trace_parent = models.CharField(max_length=55, blank=True, default="")
    # The span id of the request that started the run, when it came in a caller's trace: the
    # parent of the run's span, which is exported when the run ends.
    trace_caller = models.CharField(max_length=16, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workflow", "-created_at"])]

    def __str__(self) -> str:
        return f"run {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")


class Step(models.Model):
    """One execution of one node; a manager's delegated tasks are steps with a parent."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    key = models.CharField(max_length=200)  # node id, or "<parent key>.<node>.<n>" if delegated
    node_id = models.CharField(max_length=64)
    node_type = models.CharField(max_length=64)
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    status = models.CharField(max_length=16, choices=_choices(STEP_STATUSES), default="pending")
    input = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    output = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    branch = models.CharField(max_length=64, null=True, blank=True)
    error = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    round = models.PositiveIntegerField(default=0)
    # Delegation and human input: what the node asked for and what it resumes with.
    request = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    resume = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    state = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    model = models.CharField(max_length=200, null=True, blank=True)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    cost = models.FloatField(default=0.0)
    by_model = models.JSONField(default=dict, blank=True)
    # Sub-flows as child steps (orchestrator.subflows): a subflow step running its flow keeps
    # {"workflow", "name", "version", "input", "lineage"} in ``flow``; each step of that flow
    # (and its delegated tasks) points at it with ``in_flow`` (null: a step of the run's flow).
    flow = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    in_flow = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # A delegated task: the round of its parent it was handed out in (its own ``round`` moves
    # on when it resumes itself: a subflow step, a manager as a task, an approval gate).
    task_round = models.PositiveIntegerField(null=True, blank=True)
    # A delegating step whose tasks run a few at a time (a map's items): how many at once,
    # whether a failure stops the rest, and the counts the next task is started from.
    fan_out = models.JSONField(null=True, blank=True)
    # A reused step: {"kind": recorded | edited | pinned, "run": source run id, "step": its key}.
    reused_from = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    # The worker holding the step: a token per claim, and a lease it must keep renewing.
    claim = models.UUIDField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When a queued step should run (later than now while a retry backs off); the sweeper
    # re-sends a queued step whose message was lost once this is well past.
    due_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="step_key_unique")]
        indexes = [
            models.Index(fields=["status", "lease_expires_at"]),
            # "The run's top-level steps" is read on every transition; without it a planner
            # without statistics walks the parent index, every top-level step of every run.
            models.Index(fields=["run", "parent"], name="step_run_parent"),
        ]

    def __str__(self) -> str:
        return f"step {self.key} of run {self.run_id} ({self.status})"

    @property
    def duration_ms(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds() * 1000, 3)


class Event(models.Model):
    """Append-only; ``(run, seq)`` is unique and gap-free."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.BigIntegerField()
    type = models.CharField(max_length=32)
    step_key = models.CharField(max_length=200, null=True, blank=True)
    node_id = models.CharField(max_length=64, null=True, blank=True)
    status = models.CharField(max_length=16, null=True, blank=True)
    data = models.JSONField(encoder=DjangoJSONEncoder, default=dict)
    ts = models.DateTimeField()

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="event_seq_unique")]

    def to_message(self) -> dict[str, object]:
        """The wire shape shared by the WebSocket, the events API and the engine's Event."""
        return {
            "seq": self.seq,
            "type": self.type,
            "run": str(self.run_id),
            "step": self.step_key,
            "node": self.node_id,
            "status": self.status,
            "data": self.data,
            "ts": self.ts.timestamp(),
        }


APPROVAL_STATUSES = ("pending", "approved", "rejected", "expired")
DECISIONS = ("approve", "reject")


class Approval(models.Model):
    """A person's (or several people's) decision a waiting ``approval`` step needs.

    Opened in the transaction that suspends the step; decided (or expired by its deadline) in
    the transaction that resumes it. See :mod:`orchestrator.approvals`.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="approvals")
    step = models.OneToOneField(Step, on_delete=models.CASCADE, related_name="approval")
    workspace = models.ForeignKey(
        "editor.Workspace", on_delete=models.CASCADE, related_name="approvals"
    )
    status = models.CharField(max_length=16, choices=_choices(APPROVAL_STATUSES), default="pending")
    prompt = models.TextField(blank=True, default="")
    data = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    editable = models.BooleanField(default=False)
    approvers = models.JSONField(default=list, blank=True)  # usernames
    role = models.CharField(max_length=16, null=True, blank=True)
    quorum = models.PositiveIntegerField(default=1)
    deadline = models.DateTimeField(null=True, blank=True)
    deadline_seconds = models.PositiveIntegerField(null=True, blank=True)
    on_deadline = models.CharField(max_length=16, default="reject")
    escalate_to_role = models.CharField(max_length=16, null=True, blank=True)
    escalated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "status", "-created_at"]),
            models.Index(fields=["status", "deadline"]),
        ]

    def __str__(self) -> str:
        return f"approval {self.pk} of run {self.run_id} ({self.status})"


class Decision(models.Model):
    approval = models.ForeignKey(Approval, on_delete=models.CASCADE, related_name="decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    decision = models.CharField(max_length=8, choices=_choices(DECISIONS))
    comment = models.TextField(blank=True, default="")
    output = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["approval", "user"], name="one_decision_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.decision}s approval {self.approval_id}"


class RunStartKey(models.Model):
    """An ``Idempotency-Key`` a client sent when it started a run: the same key again (a retried
    request) answers with that run instead of starting another. Kept per workspace for
    :data:`orchestrator.runs.START_KEY_HOURS`; ``fingerprint`` tells a retry from a different
    request that reuses the key."""

    workspace = models.ForeignKey("editor.Workspace", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="run_start_key_unique")
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"start key {self.key!r} of run {self.run_id}"
