// The workspaces the signed-in user belongs to, with their role in each.

import { request } from './client';
import { pageOf, type Page } from './resources';

export type Role = 'owner' | 'editor' | 'runner' | 'approver' | 'viewer';

export interface WorkspaceSummary {
  id: number;
  name: string;
  slug: string;
  role: Role;
  created_at: string;
}

export async function listWorkspaces(options: { signal?: AbortSignal } = {}): Promise<WorkspaceSummary[]> {
  const data = await request<Page<WorkspaceSummary> | WorkspaceSummary[]>('/api/workspaces/', { signal: options.signal });
  return pageOf(data).results;
}
