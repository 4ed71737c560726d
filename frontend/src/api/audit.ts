// A workspace's audit log (owners only): who did what to which object, newest first, in pages.

import { request } from './client';
import type { Page } from './resources';

export interface AuditEntry {
  id: number;
  created_at: string;
  /** the username at the time; empty for the system */
  actor: string;
  /** how the actor came in: session, token, webhook, system */
  via: string;
  action: string;
  target: { type: string; id: string; label: string };
  detail: Record<string, unknown>;
}

export interface AuditFilters {
  /** one action ("run.started") or a group ending in a dot ("workflow.") */
  action?: string;
  actor?: string;
  target_type?: string;
  /** an ISO date ("2026-11-24") or date-time */
  since?: string;
}

/** The action groups the filter offers; the API takes any "<group>." prefix. */
export const ACTION_GROUPS: { value: string; label: string }[] = [
  { value: 'workflow.', label: 'Workflows' },
  { value: 'run.', label: 'Runs' },
  { value: 'approval.', label: 'Approvals' },
  { value: 'model_price.', label: 'Model prices' },
  { value: 'credential.', label: 'Credentials' },
  { value: 'member.', label: 'Members' },
  { value: 'invitation.', label: 'Invitations' },
  { value: 'webhook.', label: 'Webhooks' },
  { value: 'workspace.', label: 'Workspace' },
];

// What entries are recorded against (editor.audit: the target's model name): members' changes
// name the person (`user`), a webhook's name its workflow.
export const TARGET_TYPES = ['workflow', 'run', 'approval', 'model', 'credential', 'user', 'invitation', 'workspace'];

export const PAGE_SIZE = 50;

export function auditQuery(filters: AuditFilters, page: number): Record<string, string | number | undefined> {
  const query: Record<string, string | number | undefined> = { page, page_size: PAGE_SIZE };
  for (const key of ['action', 'actor', 'target_type', 'since'] as const) {
    const value = filters[key]?.trim();
    if (value) query[key] = value;
  }
  return query;
}

export function listAudit(workspaceId: number, filters: AuditFilters, page = 1, options: { signal?: AbortSignal } = {}): Promise<Page<AuditEntry>> {
  return request<Page<AuditEntry>>(`/api/workspaces/${workspaceId}/audit/`, { query: auditQuery(filters, page), signal: options.signal });
}

/** "workflow.created" → "workflow created", "model_price.set" → "model price set". */
export function actionText(action: string): string {
  return action.replace(/[._]/g, ' ');
}
