"""Invitations: an owner invites someone by email with a role; whoever holds the secret link
and is signed in joins with that role.

No email is sent: the link is shown once, to the owner who made it, to pass on. Only the link's
SHA-256 is stored, so the list of pending invitations (and a stolen database) reveals no link.
A revoked invitation is deleted (its link then answers 404); an expired or used one answers 410.
Inviting, revoking and accepting each record their audit entry in their transaction.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from editor.api_schema import errors
from editor.audit import record
from editor.authentication import digest, new_secret, via_of
from editor.errors import Conflict, NotFound, OperationError
from editor.members import member_workspace, require_owner
from editor.models import Invitation, Membership, Role, Workspace
from editor.strict_fields import StrictCharField, StrictEmailField, StrictIntegerField

DEFAULT_DAYS = 7
MAX_DAYS = 30
INVITE_KIND = "fbi_"
MAX_PENDING = 100


class Gone(OperationError):
    """The link was real but can no longer be used (expired or already accepted)."""

    status = 410
    code = "gone"


def _record(
    action: str, invitation: Invitation, workspace: Workspace, *, actor: Any, via: str
) -> None:
    """An audit entry about an invitation: labelled by its email, with its role and email."""
    record(
        action,
        actor=actor,
        workspace=workspace,
        target=invitation,
        target_label=invitation.email,
        via=via,
        detail={"role": invitation.role, "email": invitation.email},
    )


def accept_path(secret: str) -> str:
    return f"/invitations/{secret}"


def pending(workspace: Workspace) -> Any:
    return workspace.invitations.filter(accepted_at__isnull=True, expires_at__gt=timezone.now())


def find(secret: str) -> Invitation:
    """The invitation of a link, if it may still be accepted; NotFound or Gone with why not."""
    invitation = (
        Invitation.objects.select_related("workspace", "invited_by")
        .filter(secret_hash=digest(secret))
        .first()
    )
    if invitation is None:
        raise NotFound("this invitation link is not valid: it was revoked, or mistyped")
    if invitation.accepted_at is not None:
        raise Gone("this invitation has already been used; ask for a new one")
    if invitation.expires_at <= timezone.now():
        raise Gone("this invitation has expired; ask the workspace's owner for a new one")
    return invitation


@transaction.atomic
def invite(
    workspace: Workspace,
    *,
    email: str,
    role: str,
    expires_in_days: int = DEFAULT_DAYS,
    actor: Any,
    via: str = "session",
) -> tuple[Invitation, str]:
    """Invite ``email`` into the workspace with ``role``, as ``actor`` (an owner). Returns the
    invitation and the secret of its link, which exists only here."""
    secret, _prefix, hashed = new_secret(INVITE_KIND)
    if pending(workspace).count() >= MAX_PENDING:
        raise Conflict(f"{MAX_PENDING} invitations are pending; revoke some first")
    invitation = Invitation.objects.create(
        workspace=workspace,
        email=email,
        role=role,
        secret_hash=hashed,
        invited_by=actor,
        expires_at=timezone.now() + timedelta(days=expires_in_days),
    )
    _record("invitation.created", invitation, workspace, actor=actor, via=via)
    return invitation, secret


@transaction.atomic
def revoke(workspace: Workspace, invitation_id: Any, *, actor: Any, via: str = "session") -> None:
    """Delete a pending invitation, as ``actor`` (an owner): its link stops working."""
    invitation = pending(workspace).filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("no such pending invitation in this workspace")
    _record("invitation.revoked", invitation, workspace, actor=actor, via=via)
    invitation.delete()


def accept(secret: str, user: Any, via: str = "session") -> Membership:
    """Join the invitation's workspace as ``user`` with its role; one use only."""
    with transaction.atomic():
        found = find(secret)
        # Locked so that two people racing with one link cannot both get in.
        invitation = Invitation.objects.select_for_update().get(pk=found.pk)
        if invitation.accepted_at is not None:
            raise Gone("this invitation has already been used; ask for a new one")
        already = Conflict(f"you are already a member of {found.workspace.name}")
        if Membership.objects.filter(workspace=found.workspace, user=user).exists():
            raise already
        try:
            # A savepoint: two *different* links to the same workspace, accepted by one person at
            # once, both pass the check above; the second must be a 409, not a 500.
            with transaction.atomic():
                membership = Membership.objects.create(
                    workspace=found.workspace, user=user, role=invitation.role
                )
        except IntegrityError:
            raise already from None
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        _record("invitation.accepted", invitation, found.workspace, actor=user, via=via)
    membership.workspace = found.workspace
    return membership


# -- API -------------------------------------------------------------------------------------------


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    invited_by = serializers.CharField(source="invited_by.username", default=None, read_only=True)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "invited_by", "created_at", "expires_at"]


class NewInvitationSerializer(InvitationSerializer):
    url = serializers.CharField(read_only=True, help_text="The accept link; shown once")

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "url"]


class InvitationCreateSerializer(serializers.Serializer[Any]):
    email = StrictEmailField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.EDITOR)
    expires_in_days = StrictIntegerField(min_value=1, max_value=MAX_DAYS, default=DEFAULT_DAYS)


class AcceptSerializer(serializers.Serializer[Any]):
    token = StrictCharField(max_length=200, help_text="The secret from the invitation link")


class AcceptedSerializer(serializers.Serializer[Any]):
    workspace = serializers.IntegerField()
    workspace_name = serializers.CharField()
    role = serializers.CharField()


class InvitationListView(APIView):
    """A workspace's pending invitations (owners): list, and invite someone."""

    @extend_schema(responses={200: InvitationSerializer(many=True), **errors(403)})
    def get(self, request: Request, workspace_id: int) -> Response:
        workspace = member_workspace(request.user, workspace_id)
        require_owner(request.user, workspace, "see invitations")
        invitations = pending(workspace).select_related("invited_by")
        return Response(InvitationSerializer(invitations, many=True).data)

    @extend_schema(
        request=InvitationCreateSerializer, responses={201: NewInvitationSerializer, **errors(409)}
    )
    def post(self, request: Request, workspace_id: int) -> Response:
        """Invite by email with a role. The answer's ``url`` is the only time the link is shown;
        no email is sent, so pass it on yourself."""
        workspace = member_workspace(request.user, workspace_id)
        require_owner(request.user, workspace, "invite people")
        body = InvitationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        invitation, secret = invite(
            workspace,
            email=data["email"],
            role=data["role"],
            expires_in_days=data["expires_in_days"],
            actor=request.user,
            via=via_of(request),
        )
        answer = dict(NewInvitationSerializer(invitation).data)
        answer["url"] = request.build_absolute_uri(accept_path(secret))
        return Response(answer, status=status.HTTP_201_CREATED)


class InvitationDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, workspace_id: int, invitation_id: Any) -> Response:
        """Revoke a pending invitation: its link stops working."""
        workspace = member_workspace(request.user, workspace_id)
        require_owner(request.user, workspace, "revoke invitations")
        revoke(workspace, invitation_id, actor=request.user, via=via_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AcceptView(APIView):
    """Join a workspace with an invitation's secret token, as the signed-in user."""

    @extend_schema(
        request=AcceptSerializer, responses={201: AcceptedSerializer, **errors(404, 409, 410)}
    )
    def post(self, request: Request) -> Response:
        body = AcceptSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        membership = accept(body.validated_data["token"], request.user, via_of(request))
        return Response(
            {
                "workspace": membership.workspace_id,
                "workspace_name": membership.workspace.name,
                "role": membership.role,
            },
            status=status.HTTP_201_CREATED,
        )


# -- the page the link opens -----------------------------------------------------------------------


@login_required
@never_cache
def invitation_page(request: HttpRequest, secret: str) -> HttpResponse:
    """``/invitations/<secret>``: what the invitation offers, and a button to join (POST)."""
    context: dict[str, Any] = {"secret": secret}
    status_code = 200
    try:
        if request.method == "POST":
            membership = accept(secret, request.user)
            return redirect(f"/settings/members?workspace={membership.workspace_id}")
        context["invitation"] = find(secret)
        context["already_member"] = Membership.objects.filter(
            workspace=context["invitation"].workspace, user=request.user
        ).exists()
    except OperationError as exc:
        context["problem"] = exc.message
        status_code = exc.status
    return render(request, "invitation.html", context, status=status_code)
