// A workflow's version history: the list, an old version shown read-only on the canvas, two
// versions compared on it, and restoring one (which the server saves again as the newest version).

import { useCallback, useEffect, useState } from 'react';
import { errorMessage } from '../api/client';
import type { Graph } from '../api/graph';
import { api, type VersionSummary } from '../api/resources';
import { compareVersions as fetchComparison } from '../api/versionCompare';
import { useToast } from '../components/toast';
import { normaliseGraph } from '../graph/convert';
import { navigate, paths } from '../router';
import type { EditorDocument } from './useEditorDocument';
import type { ComparisonView } from './versionCompare';
import { EMPTY_GRAPH } from './useGraphEditor';

export interface VersionPreview {
  number: number;
  graph: Graph;
}

export interface Versions {
  /** the old version on the canvas, or null while editing */
  preview: VersionPreview | null;
  /** shows a version read-only (leaving a run view for the editor) */
  previewVersion: (number: number) => Promise<void>;
  closePreview: () => void;
  /** makes a version the newest again, after asking when that would drop unsaved changes */
  restoreVersion: (number: number) => Promise<void>;
  /** two versions on the canvas (the newer one, marked), or null */
  comparison: ComparisonView | null;
  /** compares two versions, the older one from, the newer one to (in whichever order given);
   * false when they could not be had (a toast says why) */
  compareVersions: (a: number, b: number) => Promise<boolean>;
  closeComparison: () => void;
}

export function useVersions(
  workflowId: string,
  runId: string | null,
  dirty: boolean,
  doc: Pick<EditorDocument, 'adoptRestored'>,
): Versions {
  const toast = useToast();
  const [preview, setPreview] = useState<VersionPreview | null>(null);
  const [comparison, setComparison] = useState<ComparisonView | null>(null);

  const previewVersion = useCallback(
    async (number: number) => {
      try {
        const version = await api.getVersion(workflowId, number);
        setPreview({ number, graph: normaliseGraph(version.graph) });
        setComparison(null);
        if (runId) navigate(paths.editor(workflowId));
      } catch (error) {
        toast.show(`Could not open version ${number}: ${errorMessage(error)}`, 'error');
      }
    },
    [runId, toast, workflowId],
  );

  const { adoptRestored } = doc;
  const restoreVersion = useCallback(
    async (number: number) => {
      if (dirty && !window.confirm('Restoring replaces your unsaved changes. Continue?')) return;
      try {
        const result = await api.restoreVersion(workflowId, number);
        const graph = normaliseGraph(result.graph ?? (await api.getWorkflow(workflowId)).graph ?? EMPTY_GRAPH);
        adoptRestored(result, graph);
        setPreview(null);
        setComparison(null);
        toast.show(`Restored version ${number}${result.version ? ` as version ${result.version}` : ''}.`, 'success');
      } catch (error) {
        toast.show(`Could not restore: ${errorMessage(error)}`, 'error');
      }
    },
    [adoptRestored, dirty, toast, workflowId],
  );

  const compareVersions = useCallback(
    async (a: number, b: number) => {
      const [from, to] = a <= b ? [a, b] : [b, a];
      try {
        const [diff, before, after] = await Promise.all([
          fetchComparison(workflowId, from, to),
          api.getVersion(workflowId, from),
          api.getVersion(workflowId, to),
        ]);
        setComparison({ from, to, diff, before: normaliseGraph(before.graph), after: normaliseGraph(after.graph) });
        setPreview(null);
        if (runId) navigate(paths.editor(workflowId));
        return true;
      } catch (error) {
        toast.show(`Could not compare versions ${from} and ${to}: ${errorMessage(error)}`, 'error');
        return false;
      }
    },
    [runId, toast, workflowId],
  );

  const closePreview = useCallback(() => setPreview(null), []);
  const closeComparison = useCallback(() => setComparison(null), []);
  return { preview, previewVersion, closePreview, restoreVersion, comparison, compareVersions, closeComparison };
}

export interface VersionHistory {
  /** newest first; null while loading */
  versions: VersionSummary[] | null;
  error: string | null;
  reload: () => void;
}

/** The versions of a workflow, loaded again whenever `refreshKey` changes (a save, a restore). */
export function useVersionHistory(workflowId: string, refreshKey: unknown): VersionHistory {
  const [versions, setVersions] = useState<VersionSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(() => {
    setError(null);
    api.listVersions(workflowId).then(
      (page) => setVersions([...page.results].sort((a, b) => b.number - a.number)),
      (cause) => setError(errorMessage(cause)),
    );
  }, [workflowId]);
  useEffect(reload, [reload, refreshKey]);
  return { versions, error, reload };
}
