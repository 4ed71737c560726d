// A workspace's people: members (any member may list; owners change roles and remove; anyone may
// leave), pending invitations (owners), and team workspaces (create, rename).

import { request } from './client';
import type { Role, WorkspaceSummary } from './workspaces';

export const ROLES: Role[] = ['owner', 'editor', 'runner', 'approver', 'viewer'];

export const ROLE_HELP: Record<Role, string> = {
  owner: 'everything, and manages members',
  editor: 'builds workflows, runs them',
  runner: 'starts and cancels runs',
  approver: 'decides approvals',
  viewer: 'looks only',
};

export interface Member {
  user_id: number;
  username: string;
  email: string;
  role: Role;
  joined_at: string;
  you: boolean;
}

export interface Invitation {
  id: string;
  email: string;
  role: Role;
  invited_by: string | null;
  created_at: string;
  expires_at: string;
}

/** The answer to an invite: the only time the accept link is shown. */
export interface NewInvitation extends Invitation {
  url: string;
}

const base = (workspaceId: number) => `/api/workspaces/${workspaceId}`;

export function listMembers(workspaceId: number, options: { signal?: AbortSignal } = {}): Promise<Member[]> {
  return request<Member[]>(`${base(workspaceId)}/members/`, { signal: options.signal });
}

export function changeRole(workspaceId: number, userId: number, role: Role): Promise<Member> {
  return request<Member>(`${base(workspaceId)}/members/${userId}/`, { method: 'PATCH', body: { role } });
}

/** Remove a member (owners), or yourself (leave the workspace). */
export function removeMember(workspaceId: number, userId: number): Promise<void> {
  return request<void>(`${base(workspaceId)}/members/${userId}/`, { method: 'DELETE' });
}

export function listInvitations(workspaceId: number, options: { signal?: AbortSignal } = {}): Promise<Invitation[]> {
  return request<Invitation[]>(`${base(workspaceId)}/invitations/`, { signal: options.signal });
}

export function invite(workspaceId: number, input: { email: string; role: Role }): Promise<NewInvitation> {
  return request<NewInvitation>(`${base(workspaceId)}/invitations/`, { method: 'POST', body: input });
}

export function revokeInvitation(workspaceId: number, invitationId: string): Promise<void> {
  return request<void>(`${base(workspaceId)}/invitations/${encodeURIComponent(invitationId)}/`, { method: 'DELETE' });
}

export function createWorkspace(name: string): Promise<WorkspaceSummary> {
  return request<WorkspaceSummary>('/api/workspaces/', { method: 'POST', body: { name } });
}

export function renameWorkspace(workspaceId: number, name: string): Promise<WorkspaceSummary> {
  return request<WorkspaceSummary>(`${base(workspaceId)}/`, { method: 'PATCH', body: { name } });
}
