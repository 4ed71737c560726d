// The workflow being edited as a document: loading it, its name, saving it as a new version (and
// what a save or a restore leaves behind: the saved graph, the server's issues, the version), the
// dirty mark in the tab title and the prompt before leaving with unsaved changes.

import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, errorMessage } from '../api/client';
import { blockingIssues, withWarnings, type Graph, type Issue } from '../api/graph';
import { api, versionOf, type WorkflowDetail } from '../api/resources';
import { useToast } from '../components/toast';
import { normaliseGraph, structureKey } from '../graph/convert';
import { useLeaveGuard } from '../router';
import { EMPTY_GRAPH, type GraphEditor } from './useGraphEditor';

export interface LoadError {
  message: string;
  notFound: boolean;
  login: boolean;
}

export interface EditorDocument {
  workflow: WorkflowDetail | null;
  loadError: LoadError | null;
  retryLoad: () => void;
  /** the graph as last loaded, saved or restored (what a run of the current version runs) */
  savedGraph: Graph;
  version: number | null;
  /** changes whenever a version is saved or restored, so a version list knows to reload */
  savedCount: number;
  /** the server's issues with the graph, as of the last load, save, restore or check */
  issues: Issue[];
  /** the structure (structureKey) of the graph `issues` were found for */
  checkedStructure: () => string;
  /** issues the server found for a graph of this structure */
  setChecked: (structure: string, issues: Issue[]) => void;
  /** what the user's role allows (the server refuses the rest with 403 anyway; this says so first) */
  canEdit: boolean;
  canRun: boolean;
  saving: boolean;
  /** saves the editor's graph as a new version, with an optional message; false when it was not
   * saved (and a toast says why) */
  save: (note?: string) => Promise<boolean>;
  /** the name as typed in the title field; `rename` sends it, an empty or unchanged one is put back */
  name: string;
  setName: (name: string) => void;
  rename: () => Promise<void>;
  /** a version the server restored becomes the document, saved and undoable */
  adoptRestored: (result: WorkflowDetail, graph: Graph) => void;
}

export function useEditorDocument(workflowId: string, editor: GraphEditor): EditorDocument {
  const toast = useToast();
  const [workflow, setWorkflow] = useState<WorkflowDetail | null>(null);
  const [loadError, setLoadError] = useState<LoadError | null>(null);
  const [loadAttempt, setLoadAttempt] = useState(0);
  const [savedGraph, setSavedGraph] = useState<Graph>(EMPTY_GRAPH);
  const [issues, setIssues] = useState<Issue[]>([]);
  const [saving, setSaving] = useState(false);
  const [name, setName] = useState('');
  const [savedCount, setSavedCount] = useState(0);
  // a ref, not state: recording what was checked must not itself start another check
  const checked = useRef<string>('');

  useEffect(() => {
    let alive = true;
    setLoadError(null);
    api.getWorkflow(workflowId).then(
      (detail) => {
        if (!alive) return;
        const graph = normaliseGraph(detail.graph ?? EMPTY_GRAPH);
        setWorkflow(detail);
        setName(detail.name);
        setSavedGraph(graph);
        editor.reset(graph);
        setIssues(withWarnings([...(detail.issues ?? []), ...(detail.run_issues ?? [])], detail.warnings));
        checked.current = structureKey(graph);
      },
      (error) => {
        if (!alive) return;
        setLoadError({
          message: errorMessage(error),
          notFound: error instanceof ApiError && error.status === 404,
          login: error instanceof ApiError && error.needsLogin,
        });
      },
    );
    return () => {
      alive = false;
    };
    // editor.reset is stable; loading again only when the workflow changes or on retry
  }, [workflowId, loadAttempt]);

  useLeaveGuard(editor.dirty);

  useEffect(() => {
    document.title = `${editor.dirty ? '• ' : ''}${workflow?.name ?? 'Workflow'} — Flows`;
  }, [editor.dirty, workflow?.name]);

  const canEdit = workflow?.can?.edit ?? true;
  const canRun = workflow?.can?.run ?? true;

  const save = useCallback(async (note?: string): Promise<boolean> => {
    if (!workflow || saving) return false;
    if (!canEdit) {
      toast.show('Your role in this workspace cannot save changes; that takes owner or editor.', 'info');
      return false;
    }
    setSaving(true);
    const graph = editor.graph;
    const base = versionOf(workflow);
    try {
      let result;
      try {
        const message = note?.trim() ? { note: note.trim().slice(0, 200) } : {};
        result = await api.saveWorkflow(workflowId, base ? { graph, base_version: base, ...message } : { graph, ...message });
      } catch (error) {
        // someone saved a newer version since this one was opened: overwrite only if asked to
        if (!(error instanceof ApiError && error.status === 409)) throw error;
        if (!window.confirm(`${error.message}\n\nSave your version anyway, as the newest? (Theirs stays in the version history.)`)) {
          toast.show('Not saved: a newer version exists. Open Versions to compare.', 'info');
          return false;
        }
        result = await api.saveWorkflow(workflowId, note?.trim() ? { graph, note: note.trim().slice(0, 200) } : { graph });
      }
      const saved = normaliseGraph(result.graph ?? graph);
      editor.markSaved(graph);
      setSavedGraph(saved);
      setWorkflow((w) => ({ ...(w ?? result), ...result, graph: saved }));
      setIssues(withWarnings([...(result.issues ?? []), ...(result.run_issues ?? [])], result.warnings));
      const found = blockingIssues(result.issues ?? []);
      checked.current = structureKey(graph);
      setSavedCount((n) => n + 1);
      const number = versionOf(result);
      toast.show(
        found.length
          ? `Saved${number ? ` version ${number}` : ''} as a draft: ${found.length} problem${found.length === 1 ? '' : 's'} to fix before it can run.`
          : `Saved${number ? ` version ${number}` : ''}.`,
        found.length ? 'info' : 'success',
      );
      return true;
    } catch (error) {
      toast.show(`Could not save: ${errorMessage(error)}`, 'error');
      return false;
    } finally {
      setSaving(false);
    }
  }, [canEdit, editor, saving, toast, workflow, workflowId]);

  const rename = useCallback(async () => {
    const next = name.trim();
    if (!workflow || !next || next === workflow.name) {
      setName(workflow?.name ?? '');
      return;
    }
    try {
      const result = await api.renameWorkflow(workflowId, next);
      setWorkflow((w) => (w ? { ...w, name: result.name ?? next } : w));
      toast.show('Renamed.', 'success');
    } catch (error) {
      setName(workflow.name);
      toast.show(`Could not rename: ${errorMessage(error)}`, 'error');
    }
  }, [name, toast, workflow, workflowId]);

  const retryLoad = useCallback(() => setLoadAttempt((n) => n + 1), []);
  const checkedStructure = useCallback(() => checked.current, []);
  const setChecked = useCallback((structure: string, found: Issue[]) => {
    checked.current = structure;
    setIssues(found);
  }, []);

  const { replace, markSaved } = editor;
  const adoptRestored = useCallback(
    (result: WorkflowDetail, graph: Graph) => {
      replace(graph); // undoable: the edits before the restore are one undo away
      markSaved(graph);
      setSavedGraph(graph);
      setWorkflow((w) => (w ? { ...w, ...result, graph } : w));
      setIssues(withWarnings([...(result.issues ?? []), ...(result.run_issues ?? [])], result.warnings));
      setSavedCount((n) => n + 1);
    },
    [replace, markSaved],
  );

  return {
    workflow,
    loadError,
    retryLoad,
    savedGraph,
    version: versionOf(workflow),
    savedCount,
    issues,
    checkedStructure,
    setChecked,
    canEdit,
    canRun,
    saving,
    save,
    name,
    setName,
    rename,
    adoptRestored,
  };
}
