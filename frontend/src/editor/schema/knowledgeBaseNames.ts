// The knowledge bases a node's `"format": "knowledge_base"` field (the retrieve node's base) may
// name: those of the workspace the edited workflow belongs to (found from the page's route, see
// workspaceChoices).

import { knowledge, type KnowledgeBase } from '../../api/knowledge';
import { useWorkspaceChoices, type Choices } from './workspaceChoices';

export type KnowledgeBaseChoices = Choices<{ bases: KnowledgeBase[] }>;

async function loadBases(workspaceId: number, _workflowId: string, show: (found: { bases: KnowledgeBase[] }) => void): Promise<void> {
  show({ bases: await knowledge.list(workspaceId) });
}

/** The knowledge bases of the edited workflow's workspace. */
export function useKnowledgeBaseChoices(): KnowledgeBaseChoices {
  return useWorkspaceChoices(true, 'knowledge bases', loadBases);
}
