// Human-in-the-loop approval gates: the Approval resource, its endpoints, and what a waiting
// step's request says. Fields the contract does not promise are optional.

import { request } from './client';
import { pageOf, samePath, type Page } from './resources';

export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'expired';
export type DecisionKind = 'approve' | 'reject';

export interface ApprovalDecision {
  user: string;
  decision: DecisionKind | string;
  comment?: string | null;
  created_at: string;
}

export interface Approval {
  id: string;
  run: string;
  workflow: { id: string; name: string };
  step: string;
  node: string;
  status: ApprovalStatus;
  prompt: string;
  data: unknown;
  editable: boolean;
  approvers: string[];
  role: string | null;
  quorum: number;
  /** how many approve decisions so far */
  approvals: number;
  deadline: string | null;
  can_decide: boolean;
  decisions: ApprovalDecision[];
  created_at: string;
  decided_at: string | null;
  /** the node's label, if the backend sends it */
  node_label?: string | null;
  /** the label of the sub-flow step the gate ran in (null in the run's own flow) */
  flow_label?: string | null;
}

export interface DecideBody {
  decision: DecisionKind;
  comment?: string;
  output?: unknown;
}

/** What `step.waiting` carries for a gate: {kind: "approval", prompt, data, …}. */
export interface ApprovalRequest {
  kind: 'approval';
  prompt?: string;
  data?: unknown;
  editable?: boolean;
  approvers?: string[];
  role?: string | null;
  quorum?: number;
  deadline_seconds?: number | null;
  /** not in the contract: the approval's id, which saves a lookup */
  approval?: string;
  approval_id?: string;
  [key: string]: unknown;
}

export function approvalRequestOf(value: unknown): ApprovalRequest | null {
  if (typeof value !== 'object' || value === null) return null;
  return (value as { kind?: unknown }).kind === 'approval' ? (value as ApprovalRequest) : null;
}

export function approvalIdOf(req: ApprovalRequest | null): string | null {
  const id = req?.approval ?? req?.approval_id;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : null;
}

export interface ApprovalQuery {
  status?: ApprovalStatus;
  mine?: boolean;
  run?: string;
}

export const approvalsApi = {
  list: async (query: ApprovalQuery = {}, pageUrl?: string | null) =>
    pageOf(
      await request<Page<Approval> | Approval[]>(pageUrl ? samePath(pageUrl) : '/api/approvals/', {
        query: pageUrl
          ? undefined
          : { status: query.status, mine: query.mine ? 1 : undefined, run: query.run },
      }),
    ),
  /** The pending approvals the signed-in user may decide (the inbox and its badge). */
  pendingMine: (pageUrl?: string | null) => approvalsApi.list({ status: 'pending', mine: true }, pageUrl),
  /** Every approval of one run (to find the one behind a waiting step). */
  ofRun: async (runId: string): Promise<Approval[]> => {
    const all: Approval[] = [];
    let page = await approvalsApi.list({ run: runId });
    all.push(...page.results);
    // a run has few gates; follow at most a few pages
    for (let i = 0; page.next && i < 5; i++) {
      page = await approvalsApi.list({}, page.next);
      all.push(...page.results);
    }
    return all;
  },
  get: (id: string) => request<Approval>(`/api/approvals/${encodeURIComponent(id)}/`),
  decide: (id: string, body: DecideBody) =>
    request<Approval>(`/api/approvals/${encodeURIComponent(id)}/decide/`, { method: 'POST', body }),
};
