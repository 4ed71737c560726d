// The credentials a node's `"format": "credential"` field may name: those of the workspace the
// edited workflow belongs to (found from the page's route, see workspaceChoices); a caller may
// still pass names directly.

import { listCredentials, type Credential } from '../../api/credentials';
import { forgetWorkspaces, useWorkspaceChoices, type Choices } from './workspaceChoices';

export type CredentialChoices = Choices<{ credentials: Credential[] }>;

// Names are asked again on every mount (a credential added in another tab shows up when the node
// is opened again), shown from the last answer meanwhile.
const lastCredentials = new Map<number, Credential[]>();

/** Forget what was learnt (tests; a workflow moved between workspaces). */
export function forgetCredentialChoices(): void {
  forgetWorkspaces();
  lastCredentials.clear();
}

async function loadCredentials(workspaceId: number, _workflowId: string, show: (found: { credentials: Credential[] }) => void): Promise<void> {
  const known = lastCredentials.get(workspaceId);
  if (known) show({ credentials: known });
  const credentials = await listCredentials(workspaceId);
  lastCredentials.set(workspaceId, credentials);
  show({ credentials });
}

/** The workspace's credentials for the workflow being edited; `enabled` false asks nothing. */
export function useCredentialChoices(enabled: boolean): CredentialChoices {
  return useWorkspaceChoices(enabled, 'credentials', loadCredentials);
}
