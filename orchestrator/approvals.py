"""Business operations of human-in-the-loop approvals. Each is one transaction locking the run.

An ``approval`` step suspends with a request of kind ``approval``; :func:`open_in` (registered
as that kind's wait handler by :func:`register`, so called in the suspending step's transaction)
opens an :class:`Approval` for it and, after commit, tells every person who may decide over their
notification socket.

Who may decide: members of the run's workspace who are named in ``approvers``, or whose role is
the approval's ``role``; the workspace's owners always may. :func:`decide_approval` records one
person's decision; once ``quorum`` different people approved (or anyone rejected) the approval is
decided and the step resumes in the same transaction. :func:`expire_due` (run by the sweeper)
applies ``on_deadline`` to approvals whose deadline passed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.fields import DateTimeField

from editor.audit import record
from editor.errors import Conflict, Forbidden, NotFound, OperationError
from editor.models import Membership, Role
from orchestrator import waits
from orchestrator.models import DECISIONS, Approval, Decision, Step
from orchestrator.publisher import publish, user_group
from orchestrator.transitions import resume_in
from orchestrator.unit_of_work import FINISHED_RUN, RunTransaction

OWNER = Role.OWNER.value
DEFAULT_ESCALATION_SECONDS = 24 * 3600
_iso = DateTimeField().to_representation  # the API's datetime format


# ---------------------------------------------------------------------------------------------
# Who may decide


def eligible(approval: Approval, username: str, role: str | None) -> bool:
    """Whether a member (``role``: their role in the approval's workspace; None: not a member)
    may decide ``approval``."""
    if role is None:
        return False
    return role == OWNER or role == approval.role or username in (approval.approvers or [])


def role_in(workspace_id: Any, user: Any) -> str | None:
    if not getattr(user, "is_authenticated", False):
        return None
    role: str | None = (
        Membership.objects.filter(workspace_id=workspace_id, user=user)
        .values_list("role", flat=True)
        .first()
    )
    return role


def eligible_user_ids(approval: Approval) -> list[int]:
    """Every member who may decide (for notifications)."""
    who = Q(role=OWNER) | Q(user__username__in=list(approval.approvers or []))
    if approval.role:
        who |= Q(role=approval.role)
    return list(
        Membership.objects.filter(who, workspace_id=approval.workspace_id)
        .order_by("user_id")
        .values_list("user_id", flat=True)
        .distinct()
    )


def can_decide(approval: Approval, username: str, role: str | None) -> bool:
    """Eligible, the approval still pending, and this person has not decided yet."""
    return (
        approval.status == "pending"
        and eligible(approval, username, role)
        and not any(d.user.username == username for d in _decisions(approval))
    )


def _decisions(approval: Approval) -> list[Decision]:
    """The approval's decisions (prefetched by the API; fetched once otherwise)."""
    cache = getattr(approval, "_prefetched_objects_cache", {})
    if "decisions" in cache:
        return list(cache["decisions"])
    found = list(approval.decisions.select_related("user").order_by("created_at", "id"))
    approval._prefetched_objects_cache = {**cache, "decisions": found}  # type: ignore[attr-defined]
    return found


# ---------------------------------------------------------------------------------------------
# The wire shape (the API, and the notification socket)


def describe(approval: Approval, *, can: bool | None = None) -> dict[str, Any]:
    """The approval as the API shows it; ``can`` is the reader's ``can_decide``."""
    decisions = _decisions(approval)
    run = approval.run
    return {
        "id": str(approval.pk),
        "run": str(approval.run_id),
        "workflow": {"id": str(run.workflow_id), "name": run.workflow.name},
        "step": approval.step.key,
        "node": approval.step.node_id,
        "node_label": _node_label(approval),
        "flow_label": _flow_label(approval),
        "status": approval.status,
        "prompt": approval.prompt,
        "data": approval.data,
        "editable": approval.editable,
        "approvers": list(approval.approvers or []),
        "role": approval.role,
        "quorum": approval.quorum,
        "approvals": sum(1 for d in decisions if d.decision == "approve"),
        "deadline": _iso(approval.deadline) if approval.deadline else None,
        "can_decide": bool(can),
        "decisions": [
            {
                "user": d.user.username,
                "decision": d.decision,
                "comment": d.comment,
                "created_at": _iso(d.created_at),
            }
            for d in decisions
        ],
        "created_at": _iso(approval.created_at),
        "decided_at": _iso(approval.decided_at) if approval.decided_at else None,
    }


def _node_label(approval: Approval) -> str:
    """The gate's label as its author typed it (the inbox and the toast show it, not an id like
    approval_1)."""
    return _label_of(approval.run, approval.step)


def _flow_label(approval: Approval) -> str | None:
    """The label of the sub-flow step the gate ran in ("in sub-flow Check facts", not the key's
    ``check``); None for a gate of the run's own flow."""
    step = approval.step
    if step.in_flow_id is None or step.in_flow is None:
        return None
    return _label_of(approval.run, step.in_flow)


def _label_of(run: Any, step: Any) -> str:
    """A step's node label in the graph it ran in: the run's version's, or that of the sub-flow
    version its subflow step runs; its node id when it has no label."""
    graph = run.version.graph
    if step.in_flow_id is not None:
        flow = step.in_flow.flow if step.in_flow is not None else None
        graph = _flow_graph(flow) or graph
    for node in (graph or {}).get("nodes", []):
        if isinstance(node, dict) and node.get("id") == step.node_id:
            return str(node.get("label") or step.node_id)
    return str(step.node_id)


def _flow_graph(flow: Any) -> Any:
    """The graph of the sub-flow version a subflow step runs (its ``flow``: {"workflow",
    "version": the version's id, "number", …})."""
    if not isinstance(flow, dict) or flow.get("version") is None:
        return None
    from editor.models import WorkflowVersion

    return (
        WorkflowVersion.objects.filter(pk=flow["version"], workflow_id=flow.get("workflow"))
        .values_list("graph", flat=True)
        .first()
    )


def _notify_after_commit(
    approval: Approval, type_: str, user_ids: Iterable[int], extra: dict[str, Any] | None = None
) -> None:
    """After commit, send ``{"type", "approval", …extra}`` to each user's notification group."""
    base = describe(approval)
    usernames = {d.user_id: d.user.username for d in _decisions(approval)}
    messages = []
    for user_id in dict.fromkeys(user_ids):
        # Recipients of "opened" are eligible; whoever already decided cannot decide again.
        can = type_ == "approval.opened" and user_id not in usernames
        messages.append(
            (
                user_group(user_id),
                {"type": type_, "approval": {**base, "can_decide": can}, **(extra or {})},
            )
        )

    def send() -> None:
        for group, message in messages:
            publish(group, message)

    transaction.on_commit(send)


# ---------------------------------------------------------------------------------------------
# Opening


def register() -> None:
    """Make approvals the handler of steps that wait with a request of kind ``approval``."""
    waits.register("approval", on_suspend=_suspended, on_run_closed=expire_run_in)


def _suspended(txn: RunTransaction, step: Step, request: dict[str, Any]) -> dict[str, Any]:
    # The Approval's id goes into the step's request so the run view can link to it.
    return {**request, "approval": str(open_in(txn, step, request).pk)}


def open_in(txn: RunTransaction, step: Step, request: dict[str, Any]) -> Approval:
    """Open the Approval of a step suspending with a request of kind ``approval`` (inside the
    run transaction of ``suspend_step``). A step suspends for approval once; a second suspension
    of the same step (a redelivered attempt) reopens the same Approval."""
    now = timezone.now()
    seconds = request.get("deadline_seconds")
    seconds = int(seconds) if isinstance(seconds, int | float) and seconds > 0 else None
    approvers = request.get("approvers") or []
    fields = {
        "run": txn.run,
        "workspace_id": txn.run.workspace_id,
        "status": "pending",
        "prompt": str(request.get("prompt") or ""),
        "data": request.get("data"),
        "editable": bool(request.get("editable")),
        "approvers": [str(name) for name in approvers if isinstance(name, str)],
        "role": request.get("role") or None,
        "quorum": max(int(request.get("quorum") or 1), 1),
        "deadline": now + timedelta(seconds=seconds) if seconds else None,
        "deadline_seconds": seconds,
        "on_deadline": request.get("on_deadline") or "reject",
        "escalate_to_role": request.get("escalate_to_role") or None,
        "escalated": False,
        "decided_at": None,
    }
    approval, _ = Approval.objects.update_or_create(step=step, defaults=fields)
    approval.step = step
    approval.run = txn.run
    _notify_after_commit(approval, "approval.opened", eligible_user_ids(approval))
    return approval


# ---------------------------------------------------------------------------------------------
# Deciding


def _json(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        raise OperationError(
            "the edited output must be JSON", fields={"output": ["not JSON"]}
        ) from None


def decide_approval(
    approval_id: Any,
    user: Any,
    decision: str,
    comment: str = "",
    output: Any = None,
    *,
    via: str = "session",
) -> Approval:
    """Record ``user``'s decision; once the quorum approved (or anyone rejected) decide the
    approval and resume its step, all in one transaction.

    Raises Forbidden (403) if the user may not decide, Conflict (409) if the approval is no
    longer pending or the user decided already, OperationError (400) for a bad decision or an
    edit the approval does not allow. ``output`` None means "not edited".
    """
    if decision not in DECISIONS:
        raise OperationError(
            "decision must be 'approve' or 'reject'", fields={"decision": ["approve or reject"]}
        )
    run_id = Approval.objects.filter(pk=approval_id).values_list("run_id", flat=True).first()
    if run_id is None:
        raise NotFound("no such approval")
    with RunTransaction(run_id) as txn:
        approval = (
            Approval.objects.select_for_update(of=("self",))
            .select_related("step", "run__workflow")
            .get(pk=approval_id)
        )
        role = role_in(approval.workspace_id, user)
        if not eligible(approval, user.username, role):
            raise Forbidden("you may not decide this approval")
        if approval.status != "pending" or txn.run.status in FINISHED_RUN:
            status = approval.status if approval.status != "pending" else "closed"
            raise Conflict(f"the approval is already {status}")
        if Decision.objects.filter(approval=approval, user=user).exists():
            raise Conflict("you have already decided this approval")
        if output is not None:
            if decision != "approve":
                raise OperationError(
                    "only an approval may pass on edited data",
                    fields={"output": ["leave it out when rejecting"]},
                )
            if not approval.editable:
                raise OperationError(
                    "this approval does not let approvers edit the data",
                    fields={"output": ["not editable"]},
                )
            output = _json(output)
        Decision.objects.create(
            approval=approval,
            user=user,
            decision=decision,
            comment=comment or "",
            output=output,
        )
        decisions = _fresh_decisions(approval)
        approvals = [d for d in decisions if d.decision == "approve"]
        if decision == "reject":
            _close_in(txn, approval, "rejected", comment=comment)
        elif len(approvals) >= approval.quorum:
            _close_in(txn, approval, "approved", comment=comment)
        # In the run transaction: the decision and its entry commit together or not at all.
        record(
            "approval.decided",
            actor=user,
            workspace=approval.workspace,
            target=approval,
            target_label=f"{approval.run.workflow.name}: {approval.step.node_id}",
            via=via,
            detail={
                "decision": decision,
                "edited": output is not None,
                "status": approval.status,
                "run": str(approval.run_id),
            },
        )
        return approval


def _fresh_decisions(approval: Approval) -> list[Decision]:
    cache = getattr(approval, "_prefetched_objects_cache", {})
    cache.pop("decisions", None)
    return _decisions(approval)


def _close_in(
    txn: RunTransaction,
    approval: Approval,
    status: str,
    *,
    comment: str = "",
    reason: str | None = None,
) -> None:
    """Decide the approval and resume its step with the answer (inside the run transaction)."""
    decisions = _decisions(approval)
    approval.status = status
    approval.decided_at = timezone.now()
    approval.save(update_fields=["status", "decided_at"])
    decision = "approve" if status == "approved" else "reject"
    # Who made the outcome: the approvers, or whoever rejected (nobody: the deadline did).
    decided_by = [
        d.user.username
        for d in decisions
        if d.decision == decision and (decision == "approve" or reason is None)
    ]
    answer: dict[str, Any] = {"decision": decision, "decided_by": decided_by}
    if status == "approved":
        edits = [d.output for d in decisions if d.decision == "approve" and d.output is not None]
        if edits:
            answer["output"] = edits[-1]  # the last approver's edit wins
    if comment:
        answer["comment"] = comment
    if reason:
        answer["reason"] = reason
    summary = {"id": str(approval.pk), "status": status, "decided_by": answer["decided_by"]}
    if reason:
        summary["reason"] = reason
    if not resume_in(txn, approval.step_id, answer, data={"approval": summary}):
        raise Conflict("the approval's step is no longer waiting")
    recipients = [*eligible_user_ids(approval), *(d.user_id for d in decisions)]
    _notify_after_commit(approval, "approval.decided", recipients)


def expire_run_in(txn: RunTransaction) -> None:
    """The run is over: its pending approvals expire, and those who could decide are told."""
    pending = (
        Approval.objects.select_for_update(of=("self",))
        .select_related("step", "run__workflow")
        .filter(run=txn.run, status="pending")
    )
    for approval in pending:
        approval.status = "expired"
        approval.decided_at = txn.run.finished_at or timezone.now()
        approval.save(update_fields=["status", "decided_at"])
        _notify_after_commit(approval, "approval.decided", eligible_user_ids(approval))


# ---------------------------------------------------------------------------------------------
# Deadlines (the sweeper)


def expire_due(now: datetime | None = None, limit: int = 200) -> list[int]:
    """Apply ``on_deadline`` to pending approvals whose deadline passed; their ids.

    ``approve``/``reject``: decided by the system (``reason: "deadline"``). ``escalate``: the
    role becomes ``escalate_to_role``, the deadline moves out by the same span and the newly
    eligible are told; an escalated approval whose deadline passes again expires (rejected
    branch)."""
    now = now or timezone.now()
    due = list(
        Approval.objects.filter(status="pending", deadline__lt=now)
        .order_by("deadline")
        .values_list("pk", "run_id")[:limit]
    )
    handled: list[int] = []
    for approval_id, run_id in due:
        with RunTransaction(run_id) as txn:
            approval = (
                Approval.objects.select_for_update(of=("self",))
                .select_related("step", "run__workflow")
                .filter(pk=approval_id, status="pending", deadline__lt=now)
                .first()
            )
            if approval is None:
                continue
            handled.append(approval_id)
            if txn.run.status in FINISHED_RUN:
                approval.status = "expired"
                approval.decided_at = now
                approval.save(update_fields=["status", "decided_at"])
                continue
            action = approval.on_deadline
            if action == "escalate" and not approval.escalated and approval.escalate_to_role:
                _escalate_in(approval, now)
            elif action == "approve":
                _close_in(txn, approval, "approved", reason="deadline")
            elif action == "reject":
                _close_in(txn, approval, "rejected", reason="deadline")
            else:
                _close_in(txn, approval, "expired", reason="deadline")
    return handled


def _escalate_in(approval: Approval, now: datetime) -> None:
    before = set(eligible_user_ids(approval))
    approval.role = approval.escalate_to_role
    approval.escalated = True
    span = approval.deadline_seconds or DEFAULT_ESCALATION_SECONDS
    approval.deadline = now + timedelta(seconds=span)
    approval.save(update_fields=["role", "escalated", "deadline"])
    newly = [uid for uid in eligible_user_ids(approval) if uid not in before]
    _notify_after_commit(approval, "approval.opened", newly, {"reason": "escalated"})
