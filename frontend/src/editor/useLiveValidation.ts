// The server's check of the graph while it is edited: a moment after its structure changes (not
// its layout), so the problems it lists stay current without saving.

import { useEffect, useMemo } from 'react';
import type { Graph } from '../api/graph';
import { api } from '../api/resources';
import { structureKey } from '../graph/convert';
import type { EditorDocument } from './useEditorDocument';

export const VALIDATION_DELAY_MS = 700;

export function useLiveValidation(
  workflowId: string,
  graph: Graph,
  doc: Pick<EditorDocument, 'workflow' | 'checkedStructure' | 'setChecked'>,
  enabled: boolean,
): void {
  const structure = useMemo(() => structureKey(graph), [graph]);
  const { workflow, checkedStructure, setChecked } = doc;
  useEffect(() => {
    if (!workflow || !enabled || structure === checkedStructure()) return;
    const abort = new AbortController();
    const timer = setTimeout(() => {
      api.validateWorkflow(workflowId, graph, abort.signal).then(
        (result) => setChecked(structure, result.errors ?? []),
        () => undefined, // a failed check is not worth a message; saving reports issues too
      );
    }, VALIDATION_DELAY_MS);
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
    // the graph is read when the timer fires; the structure key is what matters
  }, [structure, workflow, enabled, workflowId]);
}
