// The workflows a node's `"format": "workflow"` field (a sub-flow) may name: the other workflows
// of the workspace the edited workflow belongs to. Found like the credentials: from the page's
// route, so no caller has to thread the workspace through; a caller may still pass them directly.

import { useEffect, useState } from 'react';
import { request } from '../../api/client';
import type { Page, WorkflowSummary } from '../../api/resources';
import { useRoute } from '../../router';
import { workspaceOf } from './credentialNames';

export type WorkflowChoices =
  | { status: 'loading' }
  | { status: 'error'; message: string }
  | { status: 'ready'; workflows: WorkflowSummary[]; current: string | null };

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

/** The workflows of the edited workflow's workspace; `enabled` false asks nothing. */
export function useWorkflowChoices(enabled: boolean): WorkflowChoices {
  const route = useRoute();
  const workflowId = route.name === 'editor' || route.name === 'run' ? route.id : null;
  const [choices, setChoices] = useState<WorkflowChoices>({ status: 'loading' });

  useEffect(() => {
    if (!enabled) return;
    if (workflowId === null) {
      setChoices({ status: 'error', message: 'No workflow is open, so no workspace to list workflows from.' });
      return;
    }
    let live = true;
    workspaceOf(workflowId)
      .then(workflowsIn)
      .then((workflows) => {
        if (live) setChoices({ status: 'ready', workflows, current: workflowId });
      })
      .catch((error: unknown) => {
        if (live) setChoices({ status: 'error', message: error instanceof Error ? error.message : 'Could not load the workflows.' });
      });
    return () => {
      live = false;
    };
  }, [enabled, workflowId]);

  return choices;
}
