"""Team workspaces and their members: create and rename a workspace, list members, change a
member's role, remove a member (or leave).

Managing people is the owner's; every member may see who is in. A workspace always keeps at
least one owner: the last one can be neither demoted nor removed (409). The owner count is taken
with the workspace's memberships locked, so two owners demoting each other at once cannot both
succeed and leave nobody in charge.

The operations below record their audit entry in their transaction; the views check roles,
parse, call them and answer.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from editor.access import role_in, workspaces_of
from editor.api_schema import errors, patch_requires_one_of
from editor.audit import record
from editor.errors import Conflict, Forbidden, NotFound
from editor.models import Membership, Role, Workspace
from editor.serializers import WorkspaceSerializer
from editor.strict_fields import StrictCharField
from editor.tokens import via_of
from editor.views import WorkspaceViewSet

LAST_OWNER = (
    "a workspace needs at least one owner: make another member owner first"
    " (or, to leave, hand the workspace over)"
)


def member_workspace(user: Any, workspace_id: Any) -> Workspace:
    """The workspace if ``user`` belongs to it; 404 otherwise, so outsiders learn nothing."""
    found = workspaces_of(user).filter(pk=workspace_id).first()
    if found is None:
        raise NotFound("no such workspace of yours")
    return found


def require_owner(user: Any, workspace: Workspace, doing: str) -> None:
    role = role_in(user, workspace.pk)
    if role != Role.OWNER:
        raise Forbidden(f"your role in this workspace ({role}) may not {doing}; that takes owner")


def _unique_slug(name: str) -> str:
    base = slugify(name)[:80] or "workspace"
    slug, suffix = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        suffix += 1
        slug = f"{base}-{suffix}"
    return slug


def _new_workspace(name: str) -> Workspace:
    """A workspace with a free slug. The slug is picked, then inserted: two workspaces of the same
    name made at once can pick the same one, so the loser (a savepoint) takes the slug with a
    random suffix instead of failing the request on the unique constraint."""
    slug = _unique_slug(name)
    for _ in range(3):
        try:
            with transaction.atomic():
                return Workspace.objects.create(name=name, slug=slug)
        except IntegrityError:
            slug = f"{_unique_slug(name)[:90]}-{secrets.token_hex(3)}"
    return Workspace.objects.create(name=name, slug=slug)


def _lock_members(workspace: Workspace) -> list[Membership]:
    """Lock every membership row of the workspace until the transaction ends (see module doc).

    All of them, always in id order: two concurrent changes then queue on the first row instead
    of each holding the row the other wants next (a deadlock).
    of=("self",): the joined user rows (for names in answers) are not ours to lock.
    """
    return list(
        Membership.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(workspace=workspace)
        .order_by("pk")
    )


def _locked(
    workspace: Workspace, user_id: int, actor: Any, doing: str | None
) -> tuple[Membership, int]:
    """The member's row and how many other owners there are, with all rows locked.

    With ``doing``, the actor must (still, now that the rows are locked) be an owner.
    """
    members = _lock_members(workspace)
    if doing is not None:
        mine = next((m.role for m in members if m.user_id == actor.pk), None)
        if mine != Role.OWNER:
            raise Forbidden(
                f"your role in this workspace ({mine}) may not {doing}; that takes owner"
            )
    found = next((m for m in members if m.user_id == user_id), None)
    if found is None:
        raise NotFound("no such member in this workspace")
    others = sum(1 for m in members if m.role == Role.OWNER and m.user_id != user_id)
    return found, others


# -- operations ------------------------------------------------------------------------------------


@transaction.atomic
def create_workspace(name: str, *, actor: Any, via: str = "session") -> Workspace:
    """A team workspace with ``actor`` as its owner."""
    workspace = _new_workspace(name)
    Membership.objects.create(user=actor, workspace=workspace, role=Role.OWNER)
    record("workspace.created", actor=actor, workspace=workspace, target=workspace, via=via)
    return workspace


@transaction.atomic
def rename_workspace(
    workspace: Workspace, name: str, *, actor: Any, via: str = "session"
) -> Workspace:
    old = workspace.name
    workspace.name = name
    workspace.save(update_fields=["name"])
    record(
        "workspace.renamed",
        actor=actor,
        workspace=workspace,
        target=workspace,
        via=via,
        detail={"from": old, "to": workspace.name},
    )
    return workspace


@transaction.atomic
def change_role(
    workspace: Workspace, user_id: int, role: str, *, actor: Any, via: str = "session"
) -> Membership:
    """Give a member another role, as ``actor`` (an owner); never demotes the last owner."""
    membership, other_owners = _locked(workspace, user_id, actor, "change roles")
    old = membership.role
    if old == Role.OWNER and role != Role.OWNER and not other_owners:
        raise Conflict(f"{membership.user.username} is the last owner; {LAST_OWNER}")
    if old != role:
        membership.role = role
        membership.save(update_fields=["role"])
        record(
            "member.role_changed",
            actor=actor,
            workspace=workspace,
            target=membership.user,
            via=via,
            detail={"from": old, "to": role},
        )
    return membership


@transaction.atomic
def remove_member(workspace: Workspace, user_id: int, *, actor: Any, via: str = "session") -> None:
    """Remove a member as ``actor`` (an owner), or leave when ``user_id`` is the actor's own;
    never the last owner."""
    leaving = actor.pk == user_id
    doing = None if leaving else "remove members"
    membership, other_owners = _locked(workspace, user_id, actor, doing)
    if membership.role == Role.OWNER and not other_owners:
        who = "you are" if leaving else f"{membership.user.username} is"
        raise Conflict(f"{who} the last owner; {LAST_OWNER}")
    record(
        "member.left" if leaving else "member.removed",
        actor=actor,
        workspace=workspace,
        target=membership.user,
        via=via,
        detail={"role": membership.role},
    )
    membership.delete()


# -- workspaces ------------------------------------------------------------------------------------


class WorkspaceWriteSerializer(serializers.Serializer[Any]):
    name = StrictCharField(max_length=100)

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("give the workspace a name")
        return value.strip()


class RoleChangeSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=Role.choices)


# A PATCH of a workspace renames it, of a member changes their role: it must say to what.
patch_requires_one_of(WorkspaceWriteSerializer, "name")
patch_requires_one_of(RoleChangeSerializer, "role")


class TeamWorkspaceViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet
):
    """Your workspaces; create a team workspace (you become its owner), rename one you own."""

    http_method_names = ["get", "post", "patch", "head", "options"]
    lookup_value_regex = "[0-9]{1,18}"

    def get_serializer_class(self) -> Any:
        if self.action in {"create", "partial_update"}:
            return WorkspaceWriteSerializer
        return WorkspaceSerializer

    def _answer(self, workspace: Workspace, code: int = status.HTTP_200_OK) -> Response:
        fresh = workspaces_of(self.request.user).get(pk=workspace.pk)
        return Response(WorkspaceSerializer(fresh).data, status=code)

    @extend_schema(request=WorkspaceWriteSerializer, responses={201: WorkspaceSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = WorkspaceWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        workspace = create_workspace(
            body.validated_data["name"], actor=request.user, via=via_of(request)
        )
        return self._answer(workspace, status.HTTP_201_CREATED)

    @extend_schema(request=WorkspaceWriteSerializer, responses={200: WorkspaceSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        workspace = self.get_object()
        require_owner(request.user, workspace, "rename it")
        body = WorkspaceWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rename_workspace(
            workspace, body.validated_data["name"], actor=request.user, via=via_of(request)
        )
        return self._answer(workspace)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)


# -- members ---------------------------------------------------------------------------------------


class MemberSerializer(serializers.ModelSerializer[Membership]):
    user_id = serializers.IntegerField(source="user.id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.CharField(source="user.email", read_only=True)
    joined_at = serializers.DateTimeField(source="created_at", read_only=True)
    you = serializers.SerializerMethodField(help_text="Whether this member is you")

    class Meta:
        model = Membership
        fields = ["user_id", "username", "email", "role", "joined_at", "you"]

    def get_you(self, membership: Membership) -> bool:
        request = self.context.get("request")
        return request is not None and membership.user_id == request.user.pk


class MemberListView(APIView):
    """Who is in the workspace, with their roles (any member may look)."""

    @extend_schema(responses=MemberSerializer(many=True))
    def get(self, request: Request, workspace_id: int) -> Response:
        workspace = member_workspace(request.user, workspace_id)
        members = workspace.memberships.select_related("user").order_by("user__username")
        context = {"request": request}
        return Response(MemberSerializer(members, many=True, context=context).data)


class MemberDetailView(APIView):
    """Change a member's role, or remove them (owners); a member may remove themself (leave)."""

    @extend_schema(request=RoleChangeSerializer, responses={200: MemberSerializer, **errors(409)})
    def patch(self, request: Request, workspace_id: int, user_id: int) -> Response:
        workspace = member_workspace(request.user, workspace_id)
        require_owner(request.user, workspace, "change roles")
        body = RoleChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        membership = change_role(
            workspace,
            user_id,
            body.validated_data["role"],
            actor=request.user,
            via=via_of(request),
        )
        return Response(MemberSerializer(membership, context={"request": request}).data)

    @extend_schema(responses={204: None, **errors(409)})
    def delete(self, request: Request, workspace_id: int, user_id: int) -> Response:
        workspace = member_workspace(request.user, workspace_id)
        if request.user.pk != user_id:  # anyone may leave; removing others takes owner
            require_owner(request.user, workspace, "remove members")
        remove_member(workspace, user_id, actor=request.user, via=via_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
