// /settings/members: who is in the workspace and with which role. Owners change roles, remove
// members, invite by email (the link is shown once, to copy: no email is sent) and revoke pending
// invitations; everyone may leave. A new team workspace can be made here too.

import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, errorMessage } from '../api/client';
import {
  changeRole,
  createWorkspace,
  invite,
  listInvitations,
  listMembers,
  removeMember,
  revokeInvitation,
  ROLE_HELP,
  ROLES,
  type Invitation,
  type Member,
  type NewInvitation,
} from '../api/members';
import type { Role, WorkspaceSummary } from '../api/workspaces';
import { useToast } from '../components/toast';
import { LoadStatus } from '../components/LoadStatus';
import { EmptyState, Field, FieldError, Spinner } from '../components/ui';
import { useFormSubmit } from '../components/useFormSubmit';
import { useLoad } from '../components/useLoad';
import { formatDate } from '../run/format';
import { paths } from '../router';
import { ShownOnce } from '../webhooks/CopyField';
import { formatMoment } from '../webhooks/when';

/** A full page load, so the settings header picks up the changed list of workspaces. */
function reloadTo(url: string): void {
  window.location.assign(url);
}

export function MembersPage({ workspace }: { workspace: WorkspaceSummary }) {
  const isOwner = workspace.role === 'owner';
  const { load: members, reload, set: setMembers } = useLoad((signal) => listMembers(workspace.id, { signal }), [workspace.id]);

  useEffect(() => {
    document.title = 'Members — Flows';
  }, []);

  return (
    <div className="page list-page" data-testid="members-page">
      <header className="page-head">
        <div>
          <h1>Members</h1>
          <p className="muted">
            People in <strong>{workspace.name}</strong>. Your role: <strong data-testid="members-my-role">{workspace.role}</strong>.
          </p>
        </div>
        <div className="page-actions">
          <NewWorkspaceButton />
        </div>
      </header>

      <LoadStatus load={members} loading="Loading members…" errorTitle="Could not load the members" errorTestId="members-error" onRetry={reload} />
      {members.status === 'ready' && <MemberTable workspace={workspace} members={members.data} isOwner={isOwner} onChanged={setMembers} />}

      {isOwner && <Invitations workspace={workspace} />}
    </div>
  );
}

function MemberTable({
  workspace,
  members,
  isOwner,
  onChanged,
}: {
  workspace: WorkspaceSummary;
  members: Member[];
  isOwner: boolean;
  onChanged: (members: Member[]) => void;
}) {
  const toast = useToast();
  const [busy, setBusy] = useState<number | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  const setRole = async (member: Member, role: Role) => {
    setBusy(member.user_id);
    setProblem(null);
    try {
      const changed = await changeRole(workspace.id, member.user_id, role);
      if (member.you) {
        // my own role changed: what this page may show changes with it
        reloadTo(`${paths.settings('members')}?workspace=${workspace.id}`);
        return;
      }
      onChanged(members.map((m) => (m.user_id === member.user_id ? changed : m)));
      toast.show(`${member.username} is now ${role}.`, 'success');
    } catch (error) {
      setProblem(errorMessage(error));
    } finally {
      setBusy(null);
    }
  };

  const remove = async (member: Member) => {
    const question = member.you
      ? `Leave ${workspace.name}? You will lose access to its workflows and runs.`
      : `Remove ${member.username} from ${workspace.name}?`;
    if (!window.confirm(question)) return;
    setBusy(member.user_id);
    setProblem(null);
    try {
      await removeMember(workspace.id, member.user_id);
      if (member.you) {
        reloadTo(paths.settings('members'));
        return;
      }
      onChanged(members.filter((m) => m.user_id !== member.user_id));
      toast.show(`Removed ${member.username}.`, 'success');
    } catch (error) {
      setProblem(errorMessage(error));
    } finally {
      setBusy(null);
    }
  };

  if (members.length === 0) {
    return (
      <div data-testid="members-empty">
        <EmptyState title="No members">Nobody belongs to this workspace.</EmptyState>
      </div>
    );
  }

  return (
    <>
      {problem && (
        <div className="banner banner-error" role="alert" data-testid="members-problem">
          {problem}
        </div>
      )}
      <table className="table" data-testid="members-table">
        <thead>
          <tr>
            <th scope="col">Member</th>
            <th scope="col">Role</th>
            <th scope="col">Joined</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {members.map((member) => (
            <tr key={member.user_id} data-testid={`member-${member.username}`}>
              <td>
                <strong>{member.username}</strong> {member.you && <span className="chip static">you</span>}
                {member.email && <div className="muted small">{member.email}</div>}
              </td>
              <td>
                {isOwner ? (
                  <select
                    aria-label={`Role of ${member.username}`}
                    value={member.role}
                    disabled={busy === member.user_id}
                    data-testid={`member-role-${member.username}`}
                    onChange={(event) => void setRole(member, event.target.value as Role)}
                  >
                    {ROLES.map((role) => (
                      <option key={role} value={role}>
                        {role}
                      </option>
                    ))}
                  </select>
                ) : (
                  <span title={ROLE_HELP[member.role]}>{member.role}</span>
                )}
              </td>
              <td title={member.joined_at}>{formatDate(member.joined_at)}</td>
              <td className="row-actions">
                {busy === member.user_id && <Spinner small label="Working" />}
                {member.you ? (
                  <button type="button" className="btn btn-ghost btn-small danger" disabled={busy !== null} onClick={() => void remove(member)} data-testid="member-leave">
                    Leave
                  </button>
                ) : (
                  isOwner && (
                    <button
                      type="button"
                      className="btn btn-ghost btn-small danger"
                      disabled={busy !== null}
                      onClick={() => void remove(member)}
                      aria-label={`Remove ${member.username}`}
                      data-testid={`member-remove-${member.username}`}
                    >
                      Remove
                    </button>
                  )
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function Invitations({ workspace }: { workspace: WorkspaceSummary }) {
  const toast = useToast();
  const [made, setMade] = useState<NewInvitation | null>(null);
  const { load, reload, update } = useLoad((signal) => listInvitations(workspace.id, { signal }), [workspace.id]);

  const revoke = async (invitation: Invitation) => {
    try {
      await revokeInvitation(workspace.id, invitation.id);
      update((items) => items.filter((i) => i.id !== invitation.id));
      if (made?.id === invitation.id) setMade(null);
      toast.show(`Revoked the invitation for ${invitation.email}.`, 'success');
    } catch (error) {
      toast.show(`Could not revoke: ${errorMessage(error)}`, 'error');
    }
  };

  return (
    <section data-testid="invitations">
      <h2 className="section-title" style={{ marginTop: 24 }}>
        Invite someone
      </h2>
      <InviteForm
        workspace={workspace}
        onInvited={(invitation) => {
          setMade(invitation);
          update((items) => [invitation, ...items]);
        }}
      />
      {made && (
        <ShownOnce testId="invitation-made" value={made.url} label="Invitation link" copyTestId="invitation-link">
          Invitation for <strong>{made.email}</strong> as <strong>{made.role}</strong>. No email is sent: copy the link and send it yourself. It is shown only now,
          works once, and expires {formatMoment(made.expires_at)}.
        </ShownOnce>
      )}

      <h2 className="section-title" style={{ marginTop: 24 }}>
        Pending invitations
      </h2>
      <LoadStatus load={load} loading="Loading invitations…" errorTitle="Could not load the invitations" errorTestId="invitations-error" onRetry={reload} />
      {load.status === 'ready' && load.data.length === 0 && (
        <p className="muted" data-testid="invitations-empty">
          No pending invitations.
        </p>
      )}
      {load.status === 'ready' && load.data.length > 0 && (
        <table className="table" data-testid="invitations-table">
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Invited by</th>
              <th scope="col">Expires</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {load.data.map((invitation) => (
              <tr key={invitation.id} data-testid={`invitation-${invitation.email}`}>
                <td>{invitation.email}</td>
                <td>{invitation.role}</td>
                <td>{invitation.invited_by ?? <span className="muted">—</span>}</td>
                <td title={invitation.expires_at}>{formatMoment(invitation.expires_at)}</td>
                <td className="row-actions">
                  <button type="button" className="btn btn-ghost btn-small danger" onClick={() => void revoke(invitation)} data-testid={`invitation-revoke-${invitation.email}`}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function InviteForm({ workspace, onInvited }: { workspace: WorkspaceSummary; onInvited: (invitation: NewInvitation) => void }) {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('editor');
  const { errors, saving, submit: send } = useFormSubmit(['email', 'role']);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await send(email.trim() ? {} : { email: 'Enter the email address of the person to invite.' }, async () => {
      onInvited(await invite(workspace.id, { email: email.trim(), role }));
      setEmail('');
    });
  };

  return (
    <form className="models-add" onSubmit={(e) => void submit(e)} noValidate data-testid="invite-form">
      <div className="models-add-fields">
        <Field id="invite-email" label="Email" error={errors.email} errorTestId="invite-error-email">
          <input
            id="invite-email"
            className="input"
            type="email"
            value={email}
            autoComplete="off"
            aria-invalid={errors.email ? true : undefined}
            data-testid="invite-email"
            onChange={(e) => setEmail(e.target.value)}
          />
        </Field>
        <Field id="invite-role" label="Role" error={errors.role} errorTestId="invite-error-role">
          <select id="invite-role" value={role} data-testid="invite-role" onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r} — {ROLE_HELP[r]}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <FieldError message={errors.form} testId="invite-error" />
      <p className="field-help">No email is sent: you get a link to copy and pass on. It expires in 7 days.</p>
      <div className="page-actions">
        <button type="submit" className="btn btn-primary" disabled={saving} data-testid="invite-submit">
          {saving ? 'Inviting…' : 'Create invitation link'}
        </button>
      </div>
    </form>
  );
}

function NewWorkspaceButton() {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setSaving(true);
    setError(null);
    try {
      const created = await createWorkspace(name.trim());
      reloadTo(`${paths.settings('members')}?workspace=${created.id}`);
    } catch (cause) {
      setError(cause instanceof ApiError ? (cause.fieldMessage('name') ?? cause.message) : errorMessage(cause));
      setSaving(false);
    }
  };

  if (!open) {
    return (
      <button type="button" className="btn btn-secondary" onClick={() => setOpen(true)} data-testid="workspace-new">
        + New team workspace
      </button>
    );
  }
  return (
    <form className="field-inline" onSubmit={(e) => void submit(e)} noValidate data-testid="workspace-new-form">
      <input className="input" aria-label="Workspace name" placeholder="Workspace name" value={name} autoFocus data-testid="workspace-new-name" onChange={(e) => setName(e.target.value)} />
      <button type="submit" className="btn btn-primary btn-small" disabled={saving} data-testid="workspace-new-submit">
        Create
      </button>
      <button type="button" className="btn btn-ghost btn-small" onClick={() => setOpen(false)}>
        Cancel
      </button>
      <FieldError message={error ?? undefined} testId="workspace-new-error" />
    </form>
  );
}
