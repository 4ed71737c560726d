// The workflows a node's `"format": "workflow"` field (a sub-flow) may name: the other workflows
// of the workspace the edited workflow belongs to (found from the page's route, see
// workspaceChoices); a caller may still pass them directly.

import { request } from '../../api/client';
import type { Page, WorkflowSummary } from '../../api/resources';
import { useWorkspaceChoices, type Choices } from './workspaceChoices';

export type WorkflowChoices = Choices<{ workflows: WorkflowSummary[]; current: string | null }>;

// A picker, not a browser: a workspace with more workflows than this lists the first ones (by
// most recently changed, the API's order) and the id field still takes any other.
const MAX_PAGES = 10;

/** The API's absolute `next` link as a path on this origin (the client adds the base). */
function samePath(url: string): string {
  const parsed = new URL(url, window.location.origin);
  return parsed.pathname + parsed.search;
}

async function workflowsIn(workspaceId: number): Promise<WorkflowSummary[]> {
  const found: WorkflowSummary[] = [];
  let url: string | null = `/api/workflows/?workspace=${workspaceId}`;
  for (let page = 0; url && page < MAX_PAGES; page++) {
    const answer: Page<WorkflowSummary> | WorkflowSummary[] = await request<Page<WorkflowSummary> | WorkflowSummary[]>(url);
    if (Array.isArray(answer)) return [...found, ...answer];
    found.push(...answer.results);
    url = answer.next ? samePath(answer.next) : null;
  }
  return found;
}

async function loadWorkflows(workspaceId: number, workflowId: string, show: (found: { workflows: WorkflowSummary[]; current: string | null }) => void): Promise<void> {
  show({ workflows: await workflowsIn(workspaceId), current: workflowId });
}

/** The workflows of the edited workflow's workspace; `enabled` false asks nothing. */
export function useWorkflowChoices(enabled: boolean): WorkflowChoices {
  return useWorkspaceChoices(enabled, 'workflows', loadWorkflows);
}
