import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Invitation, Member } from '../api/members';
import type { WorkspaceSummary } from '../api/workspaces';
import { ToastProvider } from '../components/toast';
import { fakeServer, json } from '../test/fakeServer';
import { MembersPage } from './MembersPage';

const OWNED: WorkspaceSummary = { id: 7, name: 'Lab', slug: 'lab', role: 'owner', created_at: '2026-01-01T00:00:00Z' };

let members: Member[] = [];
let invitations: Invitation[] = [];
let failMembers = false;

const calls = fakeServer(({ method, url, body }) => {
  if (url === '/api/workspaces/7/members/' && method === 'GET') {
    if (failMembers) return json({ error: { code: 'server_error', message: 'The database is down.' } }, 500);
    return json(members);
  }
  const member = /^\/api\/workspaces\/7\/members\/(\d+)\/$/.exec(url);
  if (member) {
    const target = members.find((m) => m.user_id === Number(member[1]))!;
    const owners = members.filter((m) => m.role === 'owner').length;
    if (target.role === 'owner' && owners === 1 && (method === 'DELETE' || body.role !== 'owner')) {
      return json({ error: { code: 'conflict', message: 'alice is the last owner; a workspace needs at least one owner' } }, 409);
    }
    if (method === 'DELETE') return new Response(null, { status: 204 });
    return json({ ...target, role: body.role });
  }
  if (url === '/api/workspaces/7/invitations/' && method === 'GET') return json(invitations);
  if (url === '/api/workspaces/7/invitations/' && method === 'POST') {
    if (!String(body.email).includes('@')) {
      return json({ error: { code: 'invalid', message: 'email: Enter a valid email address.', fields: { email: ['Enter a valid email address.'] } } }, 400);
    }
    return json(
      { id: 'inv-2', email: body.email, role: body.role, invited_by: 'alice', created_at: '2026-01-01T00:00:00Z', expires_at: '2026-01-08T00:00:00Z', url: 'http://testserver/invitations/fbi_secret' },
      201,
    );
  }
  if (url.startsWith('/api/workspaces/7/invitations/') && method === 'DELETE') return new Response(null, { status: 204 });
  return json({ error: { code: 'not_found', message: 'Not found.' } }, 404);
});

beforeEach(() => {
  members = [
    { user_id: 1, username: 'alice', email: 'alice@example.org', role: 'owner', joined_at: '2026-01-01T00:00:00Z', you: true },
    { user_id: 2, username: 'bob', email: 'bob@example.org', role: 'editor', joined_at: '2026-01-02T00:00:00Z', you: false },
  ];
  invitations = [{ id: 'inv-1', email: 'carol@example.org', role: 'viewer', invited_by: 'alice', created_at: '2026-01-01T00:00:00Z', expires_at: '2030-01-08T00:00:00Z' }];
  failMembers = false;
});

const renderPage = (workspace: WorkspaceSummary = OWNED) =>
  render(
    <ToastProvider>
      <MembersPage workspace={workspace} />
    </ToastProvider>,
  );

describe('MembersPage', () => {
  it('lets an owner change a role and remove a member', async () => {
    renderPage();
    await screen.findByTestId('member-bob');
    fireEvent.change(screen.getByTestId('member-role-bob'), { target: { value: 'runner' } });
    await waitFor(() => expect((screen.getByTestId('member-role-bob') as HTMLSelectElement).value).toBe('runner'));
    expect(calls[0]).toEqual({ method: 'PATCH', url: '/api/workspaces/7/members/2/', body: { role: 'runner' } });
    fireEvent.click(screen.getByTestId('member-remove-bob'));
    await waitFor(() => expect(screen.queryByTestId('member-bob')).toBeNull());
    expect(calls[1]).toEqual({ method: 'DELETE', url: '/api/workspaces/7/members/2/', body: undefined });
  });

  it("shows the server's refusal to demote the last owner", async () => {
    renderPage();
    await screen.findByTestId('member-alice');
    fireEvent.change(screen.getByTestId('member-role-alice'), { target: { value: 'viewer' } });
    expect((await screen.findByTestId('members-problem')).textContent).toContain('last owner');
    expect((screen.getByTestId('member-role-alice') as HTMLSelectElement).value).toBe('owner');
  });

  it('invites, shows the link once with a note that no email is sent, and revokes', async () => {
    renderPage();
    await screen.findByTestId('invitation-carol@example.org');
    fireEvent.change(screen.getByTestId('invite-email'), { target: { value: 'nope' } });
    fireEvent.click(screen.getByTestId('invite-submit'));
    expect((await screen.findByTestId('invite-error-email')).textContent).toBe('Enter a valid email address.');
    fireEvent.change(screen.getByTestId('invite-email'), { target: { value: 'dana@example.org' } });
    fireEvent.change(screen.getByTestId('invite-role'), { target: { value: 'runner' } });
    fireEvent.click(screen.getByTestId('invite-submit'));
    const made = await screen.findByTestId('invitation-made');
    expect(made.textContent).toContain('No email is sent');
    expect((within(made).getByTestId('invitation-link-value') as HTMLInputElement).value).toBe('http://testserver/invitations/fbi_secret');
    expect(calls.at(-1)).toEqual({ method: 'POST', url: '/api/workspaces/7/invitations/', body: { email: 'dana@example.org', role: 'runner' } });
    expect(screen.getByTestId('invitation-dana@example.org')).toBeTruthy();
    fireEvent.click(screen.getByTestId('invitation-revoke-dana@example.org'));
    await waitFor(() => expect(screen.queryByTestId('invitation-made')).toBeNull());
    expect(screen.queryByTestId('invitation-dana@example.org')).toBeNull();
    expect(calls.at(-1)).toEqual({ method: 'DELETE', url: '/api/workspaces/7/invitations/inv-2/', body: undefined });
  });

  it('shows a non-owner the members read-only, with leave but no invitations', async () => {
    members = members.map((m) => ({ ...m, you: m.username === 'bob' }));
    renderPage({ ...OWNED, role: 'editor' });
    await screen.findByTestId('member-bob');
    expect(screen.queryByTestId('member-role-bob')).toBeNull();
    expect(screen.queryByTestId('member-remove-alice')).toBeNull();
    expect(screen.queryByTestId('invitations')).toBeNull();
    expect(within(screen.getByTestId('member-bob')).getByTestId('member-leave')).toBeTruthy();
  });

  it('shows the error state with a retry', async () => {
    failMembers = true;
    renderPage();
    await screen.findByTestId('members-error');
    expect(screen.getByText('The database is down.')).toBeTruthy();
    failMembers = false;
    fireEvent.click(screen.getByText('Try again'));
    await screen.findByTestId('member-bob');
  });
});
