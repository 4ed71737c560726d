// What a node's form may offer from the workspace the edited workflow belongs to (its credentials,
// its other workflows). The form finds that workspace from the page's route (the editor's
// workflow id), so no caller has to thread it through.

import { useEffect, useState } from 'react';
import { request } from '../../api/client';
import { useRoute } from '../../router';

export type Choices<T extends object> = { status: 'loading' } | { status: 'error'; message: string } | ({ status: 'ready' } & T);

// A workflow never changes workspace: ask once per workflow.
const workspaceOfWorkflow = new Map<string, Promise<number>>();

export function workspaceOf(workflowId: string): Promise<number> {
  let found = workspaceOfWorkflow.get(workflowId);
  if (!found) {
    found = request<{ workspace: number }>(`/api/workflows/${encodeURIComponent(workflowId)}/`).then((w) => w.workspace);
    found.catch(() => workspaceOfWorkflow.delete(workflowId));
    workspaceOfWorkflow.set(workflowId, found);
  }
  return found;
}

/** Forget which workflow is in which workspace (tests; a workflow moved between workspaces). */
export function forgetWorkspaces(): void {
  workspaceOfWorkflow.clear();
}

/** Choices from the edited workflow's workspace: `load` (a module-level function) gets the
 *  workspace's and the workflow's ids and shows what it finds with `show`, as often as it likes
 *  while the form is open; `enabled` false asks nothing. `what` names the choices in messages. */
export function useWorkspaceChoices<T extends object>(
  enabled: boolean,
  what: string,
  load: (workspaceId: number, workflowId: string, show: (found: T) => void) => Promise<void>,
): Choices<T> {
  const route = useRoute();
  const workflowId = route.name === 'editor' || route.name === 'run' ? route.id : null;
  const [choices, setChoices] = useState<Choices<T>>({ status: 'loading' });

  useEffect(() => {
    if (!enabled) return;
    if (workflowId === null) {
      setChoices({ status: 'error', message: `No workflow is open, so no workspace to list ${what} from.` });
      return;
    }
    let live = true;
    const show = (found: T) => {
      if (live) setChoices({ status: 'ready', ...found });
    };
    workspaceOf(workflowId)
      .then((workspaceId) => load(workspaceId, workflowId, show))
      .catch((error: unknown) => {
        if (live) setChoices({ status: 'error', message: error instanceof Error ? error.message : `Could not load the ${what}.` });
      });
    return () => {
      live = false;
    };
  }, [enabled, workflowId, what, load]);

  return choices;
}
