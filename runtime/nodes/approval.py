"""``approval``: a gate that waits for people to approve or reject what reached it.

The first time it runs it suspends with a request (what to show, who may decide, the quorum,
the deadline); no worker is held while it waits. It is run again with ``ctx.resume`` set to the
outcome::

    {"decision": "approve" | "reject", "output"?: edited data, "decided_by": [...], "comment"?}

and leaves by ``approved`` or ``rejected``, passing on the (possibly edited) data. Who may
decide, the quorum and the deadline are enforced by whoever resumes it (the server's approvals
operations, or an in-process ``human`` handler): the node only describes them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from runtime.errors import PermanentError
from runtime.nodes.base import Complete, NodeConfig, NodeResult, NodeType, StepContext, Suspend
from runtime.sandbox import compile_template

APPROVED = "approved"
REJECTED = "rejected"
# Workspace roles (the editor app stores them on Membership; the engine only names them).
ROLES = ("owner", "editor", "runner", "approver", "viewer")
DEFAULT_ROLE = "approver"
USERNAME = r"^[\w.@+-]{1,150}$"


class ApprovalConfig(NodeConfig):
    prompt: str = Field(
        default="Approve?",
        title="Prompt",
        description="Shown to the approver: text with {{ … }} over input, nodes.<id>.output and "
        "upstream",
        json_schema_extra={"widget": "template"},
    )
    approvers: list[str] = Field(
        default_factory=list,
        max_length=100,
        title="Approvers (usernames)",
        description="People who may decide, besides members with the role (owners always may)",
    )
    role: str | None = Field(
        default=DEFAULT_ROLE,
        title="Role",
        description="Members of the run's workspace with this role may decide",
    )
    quorum: int = Field(
        default=1,
        ge=1,
        le=100,
        title="Quorum",
        description="How many different people must approve; any rejection rejects",
    )
    editable: bool = Field(
        default=False,
        title="Approvers may edit the data",
        description="An approver may change what is passed on before approving",
    )
    deadline_seconds: int | None = Field(
        default=None,
        ge=1,
        title="Deadline (s)",
        description="After this long without a decision, the 'On deadline' action is taken",
    )
    on_deadline: Literal["reject", "approve", "escalate"] = Field(
        default="reject", title="On deadline"
    )
    escalate_to_role: str | None = Field(
        default=None,
        title="Escalate to role",
        description="With 'escalate': members with this role may decide once the deadline passes",
    )

    @field_validator("approvers")
    @classmethod
    def _usernames(cls, value: list[str]) -> list[str]:
        import re

        cleaned = [name.strip() for name in value]
        bad = [name for name in cleaned if not re.match(USERNAME, name)]
        if bad:
            raise ValueError(f"not a username: {', '.join(repr(b) for b in bad[:5])}")
        return list(dict.fromkeys(cleaned))

    @field_validator("role", "escalate_to_role")
    @classmethod
    def _known_role(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value not in ROLES:
            raise ValueError(f"must be one of {', '.join(ROLES)}")
        return value

    @model_validator(mode="after")
    def _escalation(self) -> ApprovalConfig:
        if self.on_deadline == "escalate" and not self.escalate_to_role:
            raise ValueError("escalating on the deadline needs a role to escalate to")
        return self


class ApprovalNode(NodeType[ApprovalConfig]):
    type = "approval"
    label = "Approval"
    category = "human"
    description = "Waits for a person (or several) to approve or reject."
    config_model = ApprovalConfig

    def outputs(self, config: ApprovalConfig) -> list[str]:
        return [APPROVED, REJECTED]

    def templates(self, config: ApprovalConfig) -> dict[str, str]:
        return {"prompt": config.prompt}

    def retry_policy(self, config: ApprovalConfig) -> Any:
        return None

    async def run(self, ctx: StepContext, config: ApprovalConfig) -> NodeResult:
        if ctx.resume is None:
            return Suspend(self.request(ctx, config))
        answer = ctx.resume
        if not isinstance(answer, dict) or answer.get("decision") not in ("approve", "reject"):
            raise PermanentError("an approval resumes with {'decision': 'approve' | 'reject', ...}")
        output = answer["output"] if answer.get("output") is not None else ctx.input
        branch = APPROVED if answer["decision"] == "approve" else REJECTED
        return Complete(output, branch=branch)

    def request(self, ctx: StepContext, config: ApprovalConfig) -> dict[str, Any]:
        """What the approver is shown and who may decide (``kind`` tells the server to open an
        Approval for it)."""
        return {
            "kind": "approval",
            "prompt": compile_template(config.prompt).render(ctx.scope),
            "data": ctx.input,
            "editable": config.editable,
            "approvers": list(config.approvers),
            "role": config.role,
            "quorum": config.quorum,
            "deadline_seconds": config.deadline_seconds,
            "on_deadline": config.on_deadline,
            "escalate_to_role": config.escalate_to_role,
        }
