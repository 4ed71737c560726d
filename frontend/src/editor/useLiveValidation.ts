// The server's check of the graph while it is edited: a moment after its structure changes (not
// its layout), so the problems it lists stay current without saving.

import { useCallback, useEffect, useMemo, useRef } from 'react';
import { withWarnings, type Graph } from '../api/graph';
import { api } from '../api/resources';
import { structureKey } from '../graph/convert';
import type { EditorDocument } from './useEditorDocument';

export const VALIDATION_DELAY_MS = 700;

export interface LiveValidation {
  /**
   * Check the graph now if its check is still to come, and resolve once its problems are on the
   * canvas (or at once when they already are). Problems change the cards' sizes (a warning is a
   * line of text on its node), so what measures the cards (Tidy up) waits for this first.
   */
  settle: () => Promise<void>;
}

export function useLiveValidation(
  workflowId: string,
  graph: Graph,
  doc: Pick<EditorDocument, 'workflow' | 'checkedStructure' | 'setChecked'>,
  enabled: boolean,
): LiveValidation {
  const structure = useMemo(() => structureKey(graph), [graph]);
  const { workflow, checkedStructure, setChecked } = doc;
  const latest = useRef({ graph, structure, ready: Boolean(workflow) && enabled });
  latest.current = { graph, structure, ready: Boolean(workflow) && enabled };

  const check = useCallback(
    async (checked: Graph, key: string, signal?: AbortSignal) => {
      const result = await api.validateWorkflow(workflowId, checked, signal);
      setChecked(key, withWarnings([...(result.errors ?? []), ...(result.run_issues ?? [])], result.warnings));
    },
    [workflowId, setChecked],
  );

  useEffect(() => {
    if (!workflow || !enabled || structure === checkedStructure()) return;
    const abort = new AbortController();
    const timer = setTimeout(() => {
      // a failed check is not worth a message; saving reports issues too
      check(graph, structure, abort.signal).catch(() => undefined);
    }, VALIDATION_DELAY_MS);
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
    // the graph is read when the timer fires; the structure key is what matters
  }, [structure, workflow, enabled, workflowId]);

  const settle = useCallback(async () => {
    const now = latest.current;
    if (!now.ready || now.structure === checkedStructure()) return;
    try {
      await check(now.graph, now.structure);
    } catch {
      return; // unchecked: the cards keep the problems they show
    }
    // two frames: React renders the new problems, then the browser lays the cards out
    await new Promise<void>((done) => requestAnimationFrame(() => requestAnimationFrame(() => done())));
  }, [check, checkedStructure]);

  return { settle };
}
