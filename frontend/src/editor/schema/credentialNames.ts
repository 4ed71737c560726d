// The credentials a node's `"format": "credential"` field may name: those of the workspace the
// edited workflow belongs to. The form finds that workspace from the page's route (the editor's
// workflow id), so no caller has to thread it through; a caller may still pass names directly.

import { useEffect, useState } from 'react';
import { request } from '../../api/client';
import { listCredentials, type Credential } from '../../api/credentials';
import { useRoute } from '../../router';

export type CredentialChoices = { status: 'loading' } | { status: 'error'; message: string } | { status: 'ready'; credentials: Credential[] };

// A workflow never changes workspace: ask once per workflow. Names are asked again on every mount
// (a credential added in another tab shows up when the node is opened again), shown from the last
// answer meanwhile.
const workspaceOfWorkflow = new Map<string, Promise<number>>();
const lastCredentials = new Map<number, Credential[]>();

export function workspaceOf(workflowId: string): Promise<number> {
  let found = workspaceOfWorkflow.get(workflowId);
  if (!found) {
    found = request<{ workspace: number }>(`/api/workflows/${encodeURIComponent(workflowId)}/`).then((w) => w.workspace);
    found.catch(() => workspaceOfWorkflow.delete(workflowId));
    workspaceOfWorkflow.set(workflowId, found);
  }
  return found;
}

/** Forget what was learnt (tests; a workflow moved between workspaces). */
export function forgetCredentialChoices(): void {
  workspaceOfWorkflow.clear();
  lastCredentials.clear();
}

/** The workspace's credentials for the workflow being edited; `enabled` false asks nothing. */
export function useCredentialChoices(enabled: boolean): CredentialChoices {
  const route = useRoute();
  const workflowId = route.name === 'editor' || route.name === 'run' ? route.id : null;
  const [choices, setChoices] = useState<CredentialChoices>({ status: 'loading' });

  useEffect(() => {
    if (!enabled) return;
    if (workflowId === null) {
      setChoices({ status: 'error', message: 'No workflow is open, so no workspace to list credentials from.' });
      return;
    }
    let live = true;
    workspaceOf(workflowId)
      .then((workspaceId) => {
        const known = lastCredentials.get(workspaceId);
        if (known && live) setChoices({ status: 'ready', credentials: known });
        return listCredentials(workspaceId).then((credentials) => {
          lastCredentials.set(workspaceId, credentials);
          if (live) setChoices({ status: 'ready', credentials });
        });
      })
      .catch((error: unknown) => {
        if (live) setChoices({ status: 'error', message: error instanceof Error ? error.message : 'Could not load the credentials.' });
      });
    return () => {
      live = false;
    };
  }, [enabled, workflowId]);

  return choices;
}
