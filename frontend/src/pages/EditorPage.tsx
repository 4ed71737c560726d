// The editor of one workflow, and its run view (the same page, the canvas read-only and the run's
// state drawn on it). Routes: /workflows/<id> and /workflows/<id>/runs/<runId>.

import '@xyflow/react/dist/style.css';
import { ReactFlowProvider, useReactFlow, type NodeMouseHandler } from '@xyflow/react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useCatalogue } from '../api/catalogue';
import { ApprovalsLink } from '../approvals/ApprovalsLink';
import { useApprovals } from '../approvals/ApprovalsProvider';
import { useRunApprovals } from '../approvals/useRunApprovals';
import { ApiError, errorMessage } from '../api/client';
import { FINISHED_RUN_STATUSES } from '../api/events';
import type { Graph, Issue, JsonSchema } from '../api/graph';
import { api, versionOf, type WorkflowDetail } from '../api/resources';
import { ErrorState, LoadingState } from '../components/ui';
import { useToast } from '../components/toast';
import { isFragment, type Fragment } from '../graph/clipboard';
import { graphToFlow, normaliseGraph, type StepNode } from '../graph/convert';
import { danglingEdges, upstreamOf } from '../graph/rules';
import { Canvas, GRID } from '../editor/Canvas';
import { freeSpot } from '../graph/place';
import { CanvasContext, groupIssues, type CanvasInfo } from '../editor/canvasContext';
import { HelpPopover } from '../editor/HelpPopover';
import { Palette } from '../editor/Palette';
import { useFit } from '../editor/fit';
import { EdgePanel, SettingsPanel } from '../editor/SettingsPanel';
import { isEditable } from '../editor/shortcuts';
import { EMPTY_GRAPH, useGraphEditor } from '../editor/useGraphEditor';
import { VersionsPanel } from '../editor/VersionsPanel';
import { RunDialog } from '../run/RunDialog';
import { RunHistory } from '../run/RunHistory';
import { RunPanel, type RunTab } from '../run/RunPanel';
import { useRunStore } from '../run/liveStore';
import { isFinished } from '../run/reducer';
import { useRunView } from '../run/useRunView';
import { Link, loginUrl, navigate, paths, useLeaveGuard } from '../router';

const CLIPBOARD_MIME = 'application/x-flow-fragment';
let internalClipboard: Fragment | null = null;

function usePersistentFlag(key: string, initial: boolean): [boolean, (value: boolean) => void] {
  const [value, setValue] = useState(() => {
    try {
      const stored = localStorage.getItem(key);
      return stored === null ? initial : stored === '1';
    } catch {
      return initial;
    }
  });
  const set = useCallback(
    (next: boolean) => {
      setValue(next);
      try {
        localStorage.setItem(key, next ? '1' : '0');
      } catch {
        /* not persisted */
      }
    },
    [key],
  );
  return [value, set];
}

export function EditorPage(props: { workflowId: string; runId: string | null }) {
  return (
    <ReactFlowProvider>
      <Editor {...props} />
    </ReactFlowProvider>
  );
}

type Drawer = 'none' | 'versions' | 'runs';

function Editor({ workflowId, runId }: { workflowId: string; runId: string | null }) {
  const catalogue = useCatalogue();
  const editor = useGraphEditor(catalogue.byType);
  const toast = useToast();
  const flow = useReactFlow();

  const [workflow, setWorkflow] = useState<WorkflowDetail | null>(null);
  const [loadError, setLoadError] = useState<{ message: string; notFound: boolean; login: boolean } | null>(null);
  const [loadAttempt, setLoadAttempt] = useState(0);
  const [savedGraph, setSavedGraph] = useState<Graph>(EMPTY_GRAPH);
  const [issues, setIssues] = useState<Issue[]>([]);
  const [saving, setSaving] = useState(false);
  const [drawer, setDrawer] = useState<Drawer>('none');
  const [preview, setPreview] = useState<{ number: number; graph: Graph } | null>(null);
  const [runDialog, setRunDialog] = useState(false);
  const [help, setHelp] = useState(false);
  const [snap, setSnap] = usePersistentFlag('flow.snapToGrid', true);
  const [name, setName] = useState('');
  const [runTab, setRunTab] = useState<RunTab>('output');
  const [selectedStep, setSelectedStep] = useState<string | null>(null);
  const [versionsKey, setVersionsKey] = useState(0);
  const validatedKey = useRef<string>('');

  const mode: 'edit' | 'run' | 'preview' = runId ? 'run' : preview ? 'preview' : 'edit';
  const live = useRunView(runId, workflowId, versionOf(workflow));

  // ---- load ---------------------------------------------------------------------------------
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
        setIssues(detail.issues ?? []);
        validatedKey.current = structureKey(graph);
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

  // ---- live validation (debounced, on structure changes only) --------------------------------
  const structure = useMemo(() => structureKey(editor.graph), [editor.graph]);
  useEffect(() => {
    if (!workflow || mode !== 'edit' || structure === validatedKey.current) return;
    const abort = new AbortController();
    const timer = setTimeout(() => {
      const graph = editor.graph;
      api.validateWorkflow(workflowId, graph, abort.signal).then(
        (result) => {
          validatedKey.current = structure;
          setIssues(result.errors ?? []);
        },
        () => undefined, // a failed check is not worth a message; saving reports issues too
      );
    }, 700);
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
    // editor.graph is read when the timer fires; the structure key is what matters
  }, [structure, workflow, mode, workflowId]);

  // What the user's role allows (the server refuses the rest with 403 anyway; this says so first).
  const canEdit = workflow?.can?.edit ?? true;
  const canRun = workflow?.can?.run ?? true;

  // ---- save ---------------------------------------------------------------------------------
  const save = useCallback(async (): Promise<boolean> => {
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
        result = await api.saveWorkflow(workflowId, base ? { graph, base_version: base } : { graph });
      } catch (error) {
        // someone saved a newer version since this one was opened: overwrite only if asked to
        if (!(error instanceof ApiError && error.status === 409)) throw error;
        if (!window.confirm(`${error.message}\n\nSave your version anyway, as the newest? (Theirs stays in the version history.)`)) {
          toast.show('Not saved: a newer version exists. Open Versions to compare.', 'info');
          return false;
        }
        result = await api.saveWorkflow(workflowId, { graph });
      }
      const saved = normaliseGraph(result.graph ?? graph);
      editor.markSaved(graph);
      setSavedGraph(saved);
      setWorkflow((w) => ({ ...(w ?? result), ...result, graph: saved }));
      const found = result.issues ?? [];
      setIssues(found);
      validatedKey.current = structureKey(graph);
      setVersionsKey((n) => n + 1);
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

  // ---- run ----------------------------------------------------------------------------------
  const inputSchema = useMemo<JsonSchema | null>(() => {
    const input = editor.graph.nodes.find((n) => n.type === 'input');
    const fields = input?.config.fields;
    return fields && typeof fields === 'object' ? (fields as JsonSchema) : null;
  }, [editor.graph]);

  const startRun = useCallback(
    async (input: unknown) => {
      if (editor.dirty && !(await save())) throw new Error('Save failed; the run was not started.');
      const run = await api.startRun(workflowId, input);
      setRunDialog(false);
      setSelectedStep(null);
      setRunTab('output');
      navigate(paths.run(workflowId, run.id));
    },
    [editor.dirty, save, workflowId],
  );

  const cancelRun = useCallback(async () => {
    if (!runId) return;
    try {
      await api.cancelRun(runId);
      toast.show('Cancelling the run…');
    } catch (error) {
      toast.show(`Could not cancel: ${errorMessage(error)}`, 'error');
    }
  }, [runId, toast]);

  // ---- versions -----------------------------------------------------------------------------
  const previewVersion = useCallback(
    async (number: number) => {
      try {
        const version = await api.getVersion(workflowId, number);
        setPreview({ number, graph: normaliseGraph(version.graph) });
        if (runId) navigate(paths.editor(workflowId));
      } catch (error) {
        toast.show(`Could not open version ${number}: ${errorMessage(error)}`, 'error');
      }
    },
    [runId, toast, workflowId],
  );

  const restoreVersion = useCallback(
    async (number: number) => {
      if (editor.dirty && !window.confirm('Restoring replaces your unsaved changes. Continue?')) return;
      try {
        const result = await api.restoreVersion(workflowId, number);
        const graph = normaliseGraph(result.graph ?? (await api.getWorkflow(workflowId)).graph ?? EMPTY_GRAPH);
        editor.replace(graph); // undoable: the edits before the restore are one undo away
        editor.markSaved(graph);
        setSavedGraph(graph);
        setWorkflow((w) => (w ? { ...w, ...result, graph } : w));
        setIssues(result.issues ?? []);
        setPreview(null);
        setVersionsKey((n) => n + 1);
        toast.show(`Restored version ${number}${result.version ? ` as version ${result.version}` : ''}.`, 'success');
      } catch (error) {
        toast.show(`Could not restore: ${errorMessage(error)}`, 'error');
      }
    },
    [editor, toast, workflowId],
  );

  // ---- canvas data --------------------------------------------------------------------------
  const runGraph = live.graph ?? savedGraph;
  const display = useMemo(() => {
    if (mode === 'run') return graphToFlow(runGraph);
    if (mode === 'preview' && preview) return graphToFlow(preview.graph);
    return null;
  }, [mode, runGraph, preview]);

  const grouped = useMemo(() => groupIssues(issues), [issues]);
  // The run's state per node and edge, for the canvas: each card and edge subscribes to its own
  // entry, so an event re-renders what it changed, not the whole canvas.
  const runStore = useRunStore(runId, live.view, runGraph, mode === 'run');
  const selectStep = useCallback((stepId: string) => {
    setSelectedStep(stepId);
    setRunTab('step');
  }, []);

  // approval gates in the run: their approvals, and the Decide button on a waiting one
  const { open: openApproval } = useApprovals();
  const gateNodes = useMemo(
    () =>
      new Set(
        mode === 'run'
          ? runGraph.nodes.filter((n) => n.type === 'approval' || catalogue.byType.get(n.type)?.category === 'human').map((n) => n.id)
          : [],
      ),
    [mode, runGraph, catalogue.byType],
  );
  const runApprovals = useRunApprovals(mode === 'run' ? runId : null, live.view, gateNodes);
  const findApproval = runApprovals.find;
  const decide = useCallback(
    (_nodeId: string, stepId: string) => {
      findApproval(stepId).then(
        (found) => {
          if (found) openApproval(found);
          else toast.show('The approval for this step is not available yet; try again in a moment.', 'error');
        },
        (error) => toast.show(`Could not open the approval: ${errorMessage(error)}`, 'error'),
      );
    },
    [openApproval, findApproval, toast],
  );
  const info: CanvasInfo = useMemo(
    () => ({
      catalogue: catalogue.byType,
      nodeIssues: mode === 'edit' ? grouped.nodes : new Map(),
      edgeIssues: mode === 'edit' ? grouped.edges : new Map(),
      run: runStore,
      readOnly: mode !== 'edit',
      onSelectStep: selectStep,
      onDecide: mode === 'run' ? decide : undefined,
    }),
    [catalogue.byType, mode, grouped, runStore, selectStep, decide],
  );

  const danglingCount = useMemo(
    () => (mode === 'edit' ? danglingEdges(editor.graph, catalogue.byType).length : 0),
    [mode, editor.graph, catalogue.byType],
  );

  const labelOf = useCallback(
    (id: string) => {
      const node = (mode === 'run' ? runGraph : editor.graph).nodes.find((n) => n.id === id);
      return node?.label || id;
    },
    [editor.graph, mode, runGraph],
  );

  const selectedNodes = editor.nodes.filter((n) => n.selected);
  const selectedEdges = editor.edges.filter((e) => e.selected);
  const selectedNode = mode === 'edit' && selectedNodes.length === 1 ? selectedNodes[0] : null;
  const selectedEdge = mode === 'edit' && !selectedNodes.length && selectedEdges.length === 1 ? selectedEdges[0] : null;

  const upstream = useMemo(
    () =>
      selectedNode
        ? upstreamOf(editor.graph, selectedNode.id).map((id) => ({ id, label: editor.graph.nodes.find((n) => n.id === id)?.label || id }))
        : [],
    [editor.graph, selectedNode],
  );

  const addAtCentre = useCallback(
    (type: string) => {
      const bounds = document.querySelector('[data-testid="canvas"]')?.getBoundingClientRect();
      const centre = bounds
        ? flow.screenToFlowPosition({ x: bounds.left + bounds.width / 2, y: bounds.top + bounds.height / 2 })
        : { x: 0, y: 0 };
      const wanted = { x: Math.round((centre.x - 108) / GRID) * GRID, y: Math.round((centre.y - 44) / GRID) * GRID };
      const spot = freeSpot(editor.graph, wanted); // never on top of another card
      editor.addNode(type, spot);
      if (spot.x !== wanted.x || spot.y !== wanted.y) {
        flow.setCenter(spot.x + 108, spot.y + 44, { zoom: flow.getZoom(), duration: 250 }); // bring it into view
      }
    },
    [editor, flow],
  );

  const duplicateSelection = useCallback(() => {
    const fragment = editor.copySelection();
    if (fragment) editor.paste(fragment);
  }, [editor]);

  const fit = useFit();
  const autoLayout = useCallback(() => {
    const sizes = Object.fromEntries(
      flow.getNodes().map((n) => [n.id, n.measured?.width && n.measured?.height ? { width: n.measured.width, height: n.measured.height } : undefined]),
    );
    void editor.layout(sizes).then(() => requestAnimationFrame(() => fit({ duration: 300 })));
  }, [editor, flow, fit]);

  const focusIssue = useCallback(
    (issue: Issue) => {
      if (issue.node_id) {
        editor.selectOnly([issue.node_id]);
        flow.fitView({ nodes: [{ id: issue.node_id }], duration: 300, maxZoom: 1.2, padding: 0.6 });
      } else if (issue.edge_id) {
        const edge = editor.edges.find((e) => e.id === issue.edge_id);
        if (edge) flow.fitView({ nodes: [{ id: edge.source }, { id: edge.target }], duration: 300, padding: 0.4 });
      }
    },
    [editor, flow],
  );

  // ---- keyboard -----------------------------------------------------------------------------
  const keyActions = { save, canRun, undo: editor.undo, redo: editor.redo, selectAll: editor.selectAll, selectOnly: editor.selectOnly, duplicateSelection, autoLayout, fit, mode };
  const keys = useRef(keyActions);
  keys.current = keyActions;
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const k = keys.current;
      const mod = event.metaKey || event.ctrlKey;
      const key = event.key.toLowerCase();
      const inField = isEditable(event.target);
      if (mod && key === 's') {
        event.preventDefault();
        if (k.mode === 'edit') void k.save();
        return;
      }
      if (mod && key === 'enter') {
        event.preventDefault();
        if (k.canRun) setRunDialog(true);
        return;
      }
      if (inField) return; // let text fields keep their own undo, select-all and copy
      if (event.key === '?' || (event.shiftKey && key === '/')) {
        event.preventDefault();
        setHelp((h) => !h);
        return;
      }
      if (event.key === 'Escape') {
        setHelp(false);
        setDrawer('none');
        if (k.mode === 'edit') k.selectOnly([]);
        return;
      }
      if (k.mode !== 'edit') {
        if (event.shiftKey && key === 'f') k.fit({ duration: 300 });
        return;
      }
      if (mod && key === 'z') {
        event.preventDefault();
        if (event.shiftKey) k.redo();
        else k.undo();
      } else if (mod && key === 'y') {
        event.preventDefault();
        k.redo();
      } else if (mod && key === 'a') {
        event.preventDefault();
        k.selectAll();
      } else if (mod && key === 'd') {
        event.preventDefault();
        k.duplicateSelection();
      } else if (!mod && event.shiftKey && key === 'l') {
        event.preventDefault();
        k.autoLayout();
      } else if (!mod && event.shiftKey && key === 'f') {
        event.preventDefault();
        k.fit({ duration: 300 });
      }
    };
    // copy/cut/paste as clipboard events: they also work across tabs, with no permission prompt
    const onCopy = (event: ClipboardEvent, cut: boolean) => {
      if (keys.current.mode !== 'edit' || isEditable(event.target) || hasTextSelection()) return;
      const fragment = editor.copySelection();
      if (!fragment) return;
      internalClipboard = fragment;
      event.clipboardData?.setData(CLIPBOARD_MIME, JSON.stringify(fragment));
      event.clipboardData?.setData('text/plain', JSON.stringify({ flowFragment: fragment }, null, 2));
      event.preventDefault();
      if (cut) {
        const nodes = fragment.nodes.map((n) => n.id);
        editor.remove(nodes, []);
      }
    };
    const onPaste = (event: ClipboardEvent) => {
      if (keys.current.mode !== 'edit' || isEditable(event.target)) return;
      let fragment: Fragment | null = null;
      const raw = event.clipboardData?.getData(CLIPBOARD_MIME) || event.clipboardData?.getData('text/plain');
      if (raw) {
        try {
          const parsed = JSON.parse(raw);
          const candidate = parsed?.flowFragment ?? parsed;
          if (isFragment(candidate)) fragment = candidate;
        } catch {
          /* not ours */
        }
      }
      fragment ??= internalClipboard;
      if (!fragment) return;
      event.preventDefault();
      editor.paste(fragment);
    };
    const copy = (e: ClipboardEvent) => onCopy(e, false);
    const cut = (e: ClipboardEvent) => onCopy(e, true);
    window.addEventListener('keydown', onKey);
    document.addEventListener('copy', copy);
    document.addEventListener('cut', cut);
    document.addEventListener('paste', onPaste);
    return () => {
      window.removeEventListener('keydown', onKey);
      document.removeEventListener('copy', copy);
      document.removeEventListener('cut', cut);
      document.removeEventListener('paste', onPaste);
    };
  }, [editor, flow]);

  // stable (the view is read when clicked): a new handler per event would re-render the canvas
  const liveView = useRef(live.view);
  liveView.current = live.view;
  const onRunNodeClick: NodeMouseHandler<StepNode> = useCallback(
    (_event, node) => {
      const step = liveView.current.nodes[node.id]?.step;
      if (step) selectStep(step);
    },
    [selectStep],
  );
  const onRefused = useCallback((message: string) => toast.show(message, 'error'), [toast]);

  // ---- render -------------------------------------------------------------------------------
  if (loadError) {
    return (
      <div className="page page-center">
        <ErrorState
          title={loadError.login ? 'You are signed out' : loadError.notFound ? 'No such workflow' : 'Could not open the workflow'}
          message={loadError.notFound ? 'It may have been deleted, or you may not have access to it.' : loadError.message}
          onRetry={loadError.notFound ? undefined : () => setLoadAttempt((n) => n + 1)}
        />
        {loadError.login ? (
          <a className="btn btn-primary" href={loginUrl()}>
            Sign in
          </a>
        ) : (
          <Link to={paths.list()} className="btn btn-secondary">
            Back to workflows
          </Link>
        )}
      </div>
    );
  }
  // the canvas waits for the catalogue too: node sizes depend on it, and the first fit on them
  if (!workflow || catalogue.status === 'loading') return <LoadingState label="Opening workflow…" />;

  const runActive = mode === 'run' && !isFinished(live.view) && !FINISHED_RUN_STATUSES.has(live.detail?.status ?? '');
  const dangling = danglingCount;
  const version = versionOf(workflow);

  return (
    <CanvasContext.Provider value={info}>
      <div className={`editor mode-${mode}`}>
        <header className="toolbar" role="toolbar" aria-label="Workflow">
          <div className="toolbar-group">
            <Link to={paths.list()} className="btn btn-ghost" aria-label="All workflows" title="All workflows">
              ←
            </Link>
            <input
              className="title-input"
              value={name}
              aria-label="Workflow name"
              data-testid="workflow-name"
              disabled={mode !== 'edit'}
              onChange={(e) => setName(e.target.value)}
              onBlur={rename}
              onKeyDown={(e) => {
                if (e.key === 'Enter') (e.target as HTMLInputElement).blur();
                if (e.key === 'Escape') {
                  setName(workflow.name);
                  (e.target as HTMLInputElement).blur();
                }
              }}
            />
            {mode === 'edit' &&
              (editor.dirty ? (
                <span className="unsaved" data-testid="unsaved" title="Changes not saved yet">
                  ● Unsaved changes
                </span>
              ) : (
                <span className="saved muted small" data-testid="saved-state">
                  {version ? `Saved · v${version}` : 'Not saved yet'}
                </span>
              ))}
            {mode === 'edit' && issues.length > 0 && <IssuesButton issues={issues} onPick={focusIssue} />}
          </div>
          <div className="toolbar-group">
            {mode === 'edit' && (
              <>
                <button type="button" className="btn btn-ghost" onClick={editor.undo} disabled={!editor.canUndo} aria-label="Undo" title="Undo" data-testid="undo">
                  ↶
                </button>
                <button type="button" className="btn btn-ghost" onClick={editor.redo} disabled={!editor.canRedo} aria-label="Redo" title="Redo" data-testid="redo">
                  ↷
                </button>
                <span className="toolbar-sep" />
                <button type="button" className="btn btn-ghost" onClick={autoLayout} disabled={!editor.nodes.length} data-testid="auto-layout" title="Auto-layout (Shift L)">
                  Tidy up
                </button>
                <button
                  type="button"
                  className={`btn btn-ghost${snap ? ' pressed' : ''}`}
                  aria-pressed={snap}
                  onClick={() => setSnap(!snap)}
                  data-testid="snap"
                  title="Snap to grid"
                >
                  ⊞ Snap
                </button>
              </>
            )}
            <button type="button" className="btn btn-ghost" onClick={() => fit({ duration: 300 })} data-testid="fit" title="Fit view (Shift F)">
              ⤢ Fit
            </button>
            <span className="toolbar-sep" />
            <button
              type="button"
              className={`btn btn-ghost${drawer === 'versions' ? ' pressed' : ''}`}
              aria-pressed={drawer === 'versions'}
              onClick={() => setDrawer(drawer === 'versions' ? 'none' : 'versions')}
              data-testid="versions"
            >
              Versions
            </button>
            <button
              type="button"
              className={`btn btn-ghost${drawer === 'runs' ? ' pressed' : ''}`}
              aria-pressed={drawer === 'runs'}
              onClick={() => setDrawer(drawer === 'runs' ? 'none' : 'runs')}
              data-testid="runs"
            >
              Runs
            </button>
            <ApprovalsLink />
          <Link to={paths.models()} className="btn btn-ghost" data-testid="models-link">
            Settings
          </Link>
            <span className="help-anchor">
              <button
                type="button"
                className="btn btn-ghost"
                aria-label="Keyboard shortcuts"
                aria-expanded={help}
                data-help-toggle
                data-testid="help"
                onClick={() => setHelp(!help)}
              >
                ?
              </button>
              {help && <HelpPopover onClose={() => setHelp(false)} />}
            </span>
          </div>
          <div className="toolbar-group toolbar-actions">
            {mode === 'run' && (
              <>
                {runActive && (
                  <button type="button" className="btn btn-secondary" onClick={cancelRun} data-testid="cancel-run">
                    Cancel run
                  </button>
                )}
                <Link to={paths.editor(workflowId)} className="btn btn-secondary" data-testid="back-to-editor">
                  Back to editor
                </Link>
              </>
            )}
            {mode === 'edit' && (
              <button
                type="button"
                className="btn btn-secondary"
                onClick={() => void save()}
                disabled={saving || !canEdit}
                data-testid="save"
                title={canEdit ? 'Save (Ctrl/⌘ S)' : 'Saving takes the owner or editor role'}
              >
                {saving ? 'Saving…' : 'Save'}
              </button>
            )}
            {mode !== 'preview' && (
              <button
                type="button"
                className="btn btn-primary"
                onClick={() => setRunDialog(true)}
                disabled={!canRun}
                data-testid="run"
                title={canRun ? 'Run (Ctrl/⌘ Enter)' : 'Running takes the owner, editor or runner role'}
              >
                ▷ {mode === 'run' ? 'Run again' : 'Run'}
              </button>
            )}
          </div>
        </header>

        {mode === 'preview' && preview && (
          <div className="banner banner-info preview-banner" role="status" data-testid="preview-banner">
            Viewing version {preview.number} (read-only).
            <button type="button" className="btn btn-primary btn-small" onClick={() => restoreVersion(preview.number)}>
              Restore this version
            </button>
            <button type="button" className="btn btn-secondary btn-small" onClick={() => setPreview(null)}>
              Back to editing
            </button>
          </div>
        )}
        {mode === 'edit' && !canEdit && (
          <div className="banner banner-info" role="status" data-testid="read-only-banner">
            Read-only: your role lets you look{canRun ? ' and run' : ''}; changing this workflow takes the owner or editor role.
          </div>
        )}
        {mode === 'edit' && grouped.graph.length > 0 && (
          <div className="banner banner-error graph-issues" role="status" data-testid="graph-issues">
            {grouped.graph.map((issue, i) => (
              <span key={i}>{issue.message}</span>
            ))}
          </div>
        )}
        {mode === 'edit' && dangling > 0 && (
          <div className="banner banner-warn" role="status">
            {dangling} connection{dangling === 1 ? '' : 's'} leave{dangling === 1 ? 's' : ''} from a branch that no longer exists.
          </div>
        )}

        <div className="workspace">
          {mode === 'edit' && (
            <Palette specs={catalogue.specs} status={catalogue.status} error={catalogue.error} onRetry={catalogue.retry} onAdd={addAtCentre} />
          )}
          <main className="canvas-area" aria-label="Canvas">
            {mode === 'run' && live.error ? (
              <ErrorState title="Could not load the run" message={live.error} onRetry={live.reload} />
            ) : mode === 'run' && live.loading ? (
              <LoadingState label="Loading the run…" />
            ) : (
              <Canvas
                key={mode === 'run' ? `run-${runId}` : mode === 'preview' ? `preview-${preview?.number}` : 'edit'}
                nodes={display ? display.nodes : editor.nodes}
                edges={display ? display.edges : editor.edges}
                editing={mode === 'edit' ? editor : undefined}
                snap={snap}
                onNodeClick={mode === 'run' ? onRunNodeClick : undefined}
                onRefused={onRefused}
              />
            )}
            {drawer === 'versions' && (
              <VersionsPanel
                workflowId={workflowId}
                current={version}
                previewing={preview?.number ?? null}
                refreshKey={versionsKey}
                onPreview={previewVersion}
                onRestore={restoreVersion}
                onClose={() => setDrawer('none')}
              />
            )}
            {drawer === 'runs' && <RunHistory workflowId={workflowId} activeRun={runId} refreshKey={runId} onClose={() => setDrawer('none')} />}
          </main>
          {mode === 'edit' && selectedNode && (
            <SettingsPanel
              key={selectedNode.id}
              node={selectedNode}
              spec={catalogue.byType.get(selectedNode.data.type)}
              issues={grouped.nodes.get(selectedNode.id) ?? []}
              upstream={upstream}
              onChange={(patch, key) => editor.updateNode(selectedNode.id, patch, key)}
              onDelete={() => editor.remove([selectedNode.id], [])}
              onDuplicate={duplicateSelection}
              onClose={() => editor.selectOnly([])}
            />
          )}
          {mode === 'edit' && selectedEdge && (
            <EdgePanel
              edge={selectedEdge}
              issues={grouped.edges.get(selectedEdge.id) ?? []}
              labelOf={labelOf}
              onDelete={() => editor.remove([], [selectedEdge.id])}
              onClose={() => editor.selectOnly([])}
            />
          )}
          {mode === 'run' && !live.error && (
            <RunPanel
              view={live.view}
              tab={runTab}
              onTab={setRunTab}
              selectedStep={selectedStep}
              onSelectStep={selectStep}
              labelOf={labelOf}
              connection={live.connection}
              approvals={runApprovals.byStep}
              onDecide={(stepId) => decide('', stepId)}
            />
          )}
        </div>
        {mode === 'run' && live.view.status !== 'idle' && (
          <span className="sr-only" aria-live="polite">
            Run {live.view.status}
          </span>
        )}
        <RunDialog
          open={runDialog}
          onClose={() => setRunDialog(false)}
          schema={inputSchema}
          dirty={mode === 'edit' && editor.dirty}
          storageKey={`flow.lastInput.${workflowId}`}
          onSubmit={startRun}
        />
      </div>
    </CanvasContext.Provider>
  );
}

/** The graph without positions: moving a node does not need a new validation. */
function structureKey(graph: Graph): string {
  return JSON.stringify({
    nodes: graph.nodes.map(({ position: _p, ...rest }) => rest),
    edges: graph.edges,
  });
}

function hasTextSelection(): boolean {
  const selection = window.getSelection?.();
  return !!selection && selection.toString().length > 0;
}

function IssuesButton({ issues, onPick }: { issues: Issue[]; onPick: (issue: Issue) => void }) {
  const [open, setOpen] = useState(false);
  return (
    <span className="help-anchor">
      <button
        type="button"
        className="btn btn-issues"
        aria-expanded={open}
        data-testid="issues-button"
        onClick={() => setOpen(!open)}
      >
        ⚠ {issues.length} problem{issues.length === 1 ? '' : 's'}
      </button>
      {open && (
        <div className="popover issues-popover" role="dialog" aria-label="Problems">
          <ul>
            {issues.map((issue, i) => (
              <li key={i}>
                <button
                  type="button"
                  className="issue-row"
                  onClick={() => {
                    onPick(issue);
                    setOpen(false);
                  }}
                >
                  <strong>{issue.node_id ?? issue.edge_id ?? 'flow'}</strong> {issue.message}
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
    </span>
  );
}

