// The editor of one workflow, and its run view (the same page, the canvas read-only and the run's
// state drawn on it). Routes: /workflows/<id> and /workflows/<id>/runs/<runId>. The page puts
// together the document (load, save), the version history, the shortcuts and the run; each of
// those is a hook of its own beside the editor's code.

import '@xyflow/react/dist/style.css';
import { ReactFlowProvider, useReactFlow } from '@xyflow/react';
import { useCallback, useMemo, useState } from 'react';
import { useCatalogue } from '../api/catalogue';
import { ApprovalsLink } from '../approvals/ApprovalsLink';
import { FINISHED_RUN_STATUSES } from '../api/events';
import { blockingIssues, type Issue } from '../api/graph';
import { ErrorState, LoadingState } from '../components/ui';
import { useToast } from '../components/toast';
import { usePersistentFlag } from '../components/usePersistentFlag';
import { graphToFlow } from '../graph/convert';
import { danglingEdges, upstreamOf } from '../graph/rules';
import { Canvas, GRID } from '../editor/Canvas';
import { freeSpot } from '../graph/place';
import { CanvasContext, groupIssues, type CanvasInfo } from '../editor/canvasContext';
import { HelpPopover } from '../editor/HelpPopover';
import { IssuesButton } from '../editor/IssuesButton';
import { Palette } from '../editor/Palette';
import { useFit } from '../editor/fit';
import { EdgePanel, SettingsPanel } from '../editor/SettingsPanel';
import type { EditorMode } from '../editor/shortcuts';
import { useClipboard } from '../editor/useClipboard';
import { useEditorDocument } from '../editor/useEditorDocument';
import { useGraphEditor } from '../editor/useGraphEditor';
import { useLiveValidation } from '../editor/useLiveValidation';
import { useShortcuts } from '../editor/useShortcuts';
import { useVersions } from '../editor/useVersions';
import { useDraftRecovery } from '../editor/useDraftRecovery';
import { usePublishing } from '../editor/usePublishing';
import { Modal } from '../components/Modal';
import { VersionsPanel } from '../editor/VersionsPanel';
import { VersionComparePanel } from '../editor/VersionComparePanel';
import { comparisonFlow } from '../editor/versionCompare';
import { RunDialog } from '../run/RunDialog';
import { RunHistory } from '../run/RunHistory';
import { RunPanel } from '../run/RunPanel';
import { useRunStore } from '../run/liveStore';
import { isFinished, rerunDepthOf, runOutcome } from '../run/reducer';
import { stepNames, useFlowGraphs } from '../run/subflows';
import { useRunControls } from '../run/useRunControls';
import { useRunView } from '../run/useRunView';
import { RunLineage, StepTimeTravel } from '../run/RunLineage';
import { RunTrace } from '../run/RunTrace';
import { useTimeTravel } from '../run/useTimeTravel';
import { PinGlyph } from '../editor/PinGlyph';
import { PinSection } from '../editor/PinSection';
import { useLastRunOutputs, usePins } from '../editor/usePins';
import { Link, loginUrl, paths } from '../router';

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

  const doc = useEditorDocument(workflowId, editor);
  const versions = useVersions(workflowId, runId, editor.dirty, doc);
  const { workflow, issues, canEdit, canRun, save } = doc;
  const preview = versions.preview;
  // two versions compared on the canvas: read-only, as a preview is
  const comparison = versions.comparison;
  const [compareFocus, setCompareFocus] = useState<string | null>(null);
  const mode: EditorMode = runId ? 'run' : preview || comparison ? 'preview' : 'edit';
  const { settle: settleValidation } = useLiveValidation(workflowId, editor.graph, doc, mode === 'edit');
  // unsaved work kept across a reload or a closed tab
  const recovery = useDraftRecovery(workflowId, editor, { ready: !!workflow, version: doc.version, savedGraph: doc.savedGraph }, mode === 'edit' && canEdit);
  // what API calls, webhooks and MCP run (the editor's Run runs the latest saved version)
  const publishing = usePublishing({ workflowId, workflow, latest: doc.version, dirty: editor.dirty, save });
  const published = publishing.published;
  // "Save with a message": the message is the version's note in Versions
  const [noteOpen, setNoteOpen] = useState(false);
  const [note, setNote] = useState('');

  const [drawer, setDrawer] = useState<Drawer>('none');
  const [help, setHelp] = useState(false);
  const [snap, setSnap] = usePersistentFlag('flow.snapToGrid', true);

  // ---- run ----------------------------------------------------------------------------------
  const live = useRunView(runId, workflowId, doc.version);
  const runGraph = live.graph ?? doc.savedGraph;
  // the run panel lists a map's items and a loop's iterations by the type of the node that ran
  const ranNodes = useMemo(() => new Map(runGraph.nodes.map((n) => [n.id, { type: n.type, config: n.config ?? {} }])), [runGraph]);
  const nodeOf = useCallback((id: string) => ranNodes.get(id), [ranNodes]);
  // the graphs of the sub-flows the run runs: their steps' labels and types
  const flowGraph = useFlowGraphs(live.view);
  // pinned data: test runs from here give pinned nodes their pinned output
  const pins = usePins(workflowId, editor.graph);
  const lastRun = useLastRunOutputs(workflowId, runId, live.view);
  const pinCount = pins.active.size;
  const run = useRunControls({ workflowId, runId, live, runGraph, catalogue: catalogue.byType, graph: editor.graph, dirty: editor.dirty, save, usePins: pinCount > 0 });
  // time travel: re-run from a step, edit its output, retry
  const { setTab: setRunTab } = run;
  const showRunOutput = useCallback(() => setRunTab('output'), [setRunTab]);
  const runLabelOf = useCallback((id: string) => runGraph.nodes.find((n) => n.id === id)?.label || id, [runGraph]);
  // a step's label in the flow it ran in (a sub-flow's step: by the sub-flow's graph)
  const stepLabel = useCallback(
    (key: string) => {
      const step = live.view.steps[key];
      return step?.inFlow != null ? stepNames(live.view, runLabelOf, nodeOf, flowGraph).label(step) : undefined;
    },
    [live.view, runLabelOf, nodeOf, flowGraph],
  );
  const travel = useTimeTravel({
    workflowId,
    runId,
    live,
    canRun,
    currentVersion: doc.version,
    graph: runGraph,
    selectStep: run.selectStep,
    showOutput: showRunOutput,
    stepLabel,
  });

  // ---- canvas data --------------------------------------------------------------------------
  const display = useMemo(() => {
    if (mode === 'run') return graphToFlow(runGraph);
    if (mode === 'preview' && comparison) return comparisonFlow(comparison, compareFocus);
    if (mode === 'preview' && preview) return graphToFlow(preview.graph);
    return null;
  }, [mode, runGraph, preview, comparison, compareFocus]);

  const { compareVersions: compareTwo } = versions;
  const compare = useCallback(
    async (a: number, b: number) => {
      setCompareFocus(null);
      if (await compareTwo(a, b)) setDrawer('none'); // the comparison's own panel takes over
    },
    [compareTwo],
  );
  const focusCompared = useCallback(
    (nodeId: string) => {
      setCompareFocus(nodeId);
      flow.fitView({ nodes: [{ id: nodeId }], duration: 300, maxZoom: 1.2, padding: 0.6 });
    },
    [flow],
  );

  const grouped = useMemo(() => groupIssues(issues), [issues]);
  // a graph with errors cannot run: Run says why instead of starting a run the server refuses
  const blocking = useMemo(() => (mode === 'edit' ? blockingIssues(issues) : []), [mode, issues]);
  const runBlockedReason = blocking.length
    ? `Fix ${blocking.length === 1 ? 'the problem' : `the ${blocking.length} problems`} first (see “${blocking.length} problem${blocking.length === 1 ? '' : 's'}”): ${blocking[0].node_id ? `${editor.graph.nodes.find((n) => n.id === blocking[0].node_id)?.label || blocking[0].node_id}: ` : ''}${blocking[0].message}`
    : null;
  // The run's state per node and edge, for the canvas: each card and edge subscribes to its own
  // entry, so an event re-renders what it changed, not the whole canvas.
  const runStore = useRunStore(runId, live.view, runGraph, mode === 'run');
  const info: CanvasInfo = useMemo(
    () => ({
      catalogue: catalogue.byType,
      nodeIssues: mode === 'edit' ? grouped.nodes : new Map(),
      edgeIssues: mode === 'edit' ? grouped.edges : new Map(),
      run: runStore,
      readOnly: mode !== 'edit',
      onSelectStep: run.selectStep,
      onDecide: mode === 'run' ? run.decide : undefined,
      onRerun: mode === 'run' ? travel.open : undefined,
      plan: mode === 'run' ? travel.plan : null,
      runPath: travel.runPath,
      pinned: mode === 'edit' ? pins.active : undefined,
      flowGraph: mode === 'run' ? flowGraph : undefined,
    }),
    [catalogue.byType, mode, grouped, runStore, run.selectStep, run.decide, travel.open, travel.plan, travel.runPath, pins.active, flowGraph],
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
  // the node whose settings are open (a node just added stays closed until it is clicked)
  const selectedEdge = mode === 'edit' && !selectedNodes.length && selectedEdges.length === 1 ? selectedEdges[0] : null;

  const upstream = useMemo(
    () =>
      selectedNode
        ? upstreamOf(editor.graph, selectedNode.id).map((id) => ({ id, label: editor.graph.nodes.find((n) => n.id === id)?.label || id }))
        : [],
    [editor.graph, selectedNode],
  );

  // A node just added (dropped or pressed in the palette) is selected, but its settings stay
  // closed until it is clicked: a panel opening on every drop covered a quarter of the canvas.
  // A drag from the palette closes an open panel too, so the whole canvas takes the drop.
  const [quietNode, setQuietNode] = useState<string | null>(null);
  const canvasEditing = useMemo(
    () => ({
      ...editor,
      addNode: (type: string, position: { x: number; y: number }) => {
        const id = editor.addNode(type, position);
        setQuietNode(id);
        return id;
      },
    }),
    [editor],
  );
  const hidePanelForDrag = useCallback(() => setQuietNode(selectedNodes.length === 1 ? selectedNodes[0].id : null), [selectedNodes]);
  const openSettings = useCallback((_event: unknown, node: { id: string }) => setQuietNode((q) => (q === node.id ? null : q)), []);

  const addAtCentre = useCallback(
    (type: string) => {
      const bounds = document.querySelector('[data-testid="canvas"]')?.getBoundingClientRect();
      const centre = bounds
        ? flow.screenToFlowPosition({ x: bounds.left + bounds.width / 2, y: bounds.top + bounds.height / 2 })
        : { x: 0, y: 0 };
      const wanted = { x: Math.round((centre.x - 108) / GRID) * GRID, y: Math.round((centre.y - 44) / GRID) * GRID };
      const spot = freeSpot(editor.graph, wanted); // never on top of another card
      setQuietNode(editor.addNode(type, spot));
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
  const autoLayout = useCallback(async () => {
    // Problems still to be checked would grow their cards after the layout measured them, and
    // the grown cards would overlap their neighbours: the check comes first.
    await settleValidation();
    // ...and the cards it changed are drawn and measured a frame or more later (later still on a
    // busy machine): lay out with sizes that held still for two frames in a row.
    const measured = () =>
      JSON.stringify(flow.getNodes().map((n) => [n.id, n.measured?.width ?? null, n.measured?.height ?? null]));
    let before = measured();
    for (let frame = 0; frame < 30; frame += 1) {
      await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
      const now = measured();
      if (now === before) break;
      before = now;
    }
    const sizes = Object.fromEntries(
      flow.getNodes().map((n) => [n.id, n.measured?.width && n.measured?.height ? { width: n.measured.width, height: n.measured.height } : undefined]),
    );
    const placed = () => JSON.stringify(flow.getNodes().map((n) => [n.id, n.position.x, n.position.y]));
    const laidOutFrom = placed();
    await editor.layout(sizes);
    // Fit once the canvas has the new positions: they reach React Flow a frame or more after
    // they were set (more on a busy machine), and a fit before that frames the old places.
    let last = laidOutFrom;
    for (let frame = 0; frame < 30; frame += 1) {
      await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
      const now = placed();
      if (now === last && (now !== laidOutFrom || frame >= 4)) break;
      last = now;
    }
    fit({ duration: 300 });
  }, [editor, flow, fit, settleValidation]);

  const focusIssue = useCallback(
    (issue: Issue) => {
      if (issue.node_id) {
        setQuietNode(null);
        editor.selectOnly([issue.node_id]);
        flow.fitView({ nodes: [{ id: issue.node_id }], duration: 300, maxZoom: 1.2, padding: 0.6 });
      } else if (issue.edge_id) {
        const edge = editor.edges.find((e) => e.id === issue.edge_id);
        if (edge) flow.fitView({ nodes: [{ id: edge.source }, { id: edge.target }], duration: 300, padding: 0.4 });
      }
    },
    [editor, flow],
  );

  // ---- keyboard and clipboard ------------------------------------------------------------------
  useShortcuts(mode, {
    save: () => void save(),
    run: () => {
      if (canRun && !runBlockedReason) run.openDialog();
    },
    undo: editor.undo,
    redo: editor.redo,
    selectAll: editor.selectAll,
    duplicate: duplicateSelection,
    layout: autoLayout,
    fit: () => fit({ duration: 300 }),
    help: () => setHelp((h) => !h),
    dismiss: () => {
      setHelp(false);
      setDrawer('none');
      if (mode === 'edit') editor.selectOnly([]);
    },
  });
  useClipboard(editor, mode === 'edit');

  const onRefused = useCallback((message: string) => toast.show(message, 'error'), [toast]);

  // ---- render -------------------------------------------------------------------------------
  const { loadError } = doc;
  if (loadError) {
    return (
      <div className="page page-center">
        <ErrorState
          title={loadError.login ? 'You are signed out' : loadError.notFound ? 'No such workflow' : 'Could not open the workflow'}
          message={loadError.notFound ? 'It may have been deleted, or you may not have access to it.' : loadError.message}
          onRetry={loadError.notFound ? undefined : doc.retryLoad}
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
  const version = doc.version;

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
              value={doc.name}
              aria-label="Workflow name"
              data-testid="workflow-name"
              disabled={mode !== 'edit'}
              onChange={(e) => doc.setName(e.target.value)}
              onBlur={doc.rename}
              onKeyDown={(e) => {
                if (e.key === 'Enter') (e.target as HTMLInputElement).blur();
                if (e.key === 'Escape') {
                  doc.setName(workflow.name);
                  (e.target as HTMLInputElement).blur();
                }
              }}
            />
            {mode === 'edit' &&
              (editor.dirty ? (
                <span className="unsaved" data-testid="unsaved" title="Changes not saved yet">
                  ● Unsaved
                </span>
              ) : (
                <span className="saved muted small" data-testid="saved-state">
                  {version ? `Saved · v${version}` : 'Not saved yet'}
                </span>
              ))}
            {mode === 'edit' && issues.length > 0 && <IssuesButton issues={issues} onPick={focusIssue} labelOf={labelOf} />}
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
                  aria-label="Snap to grid"
                >
                  ⊞
                </button>
              </>
            )}
            <button type="button" className="btn btn-ghost" onClick={() => fit({ duration: 300 })} data-testid="fit" title="Fit view (Shift F)" aria-label="Fit view">
              ⤢
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
                  <button type="button" className="btn btn-secondary" onClick={run.cancelRun} data-testid="cancel-run">
                    Cancel run
                  </button>
                )}
                <Link to={paths.editor(workflowId)} className="btn btn-secondary" data-testid="back-to-editor">
                  Back to editor
                </Link>
              </>
            )}
            {mode === 'edit' && (
              <span
                className={`chip static publish-state${published ? ' chip-ok' : ''}`}
                data-testid="publish-state"
                title={
                  published
                    ? `Published: version ${published.number}${published.name ? ` “${published.name}”` : ''}. API calls, webhooks and MCP run it; Run here runs the latest saved version${version !== null ? ` (${version})` : ''}.`
                    : 'Nothing published: API calls, webhooks and MCP run the latest saved version'
                }
              >
                {/* short: the toolbar is full at 1280 px; the name is in the title and in Versions */}
                {published ? `v${published.number} published` : 'Not published'}
              </span>
            )}
            {mode === 'edit' && canEdit && (
              <button
                type="button"
                className="btn btn-secondary"
                onClick={() => publishing.ask('latest')}
                disabled={doc.saving || blocking.length > 0 || (!editor.dirty && (version === null || published?.number === version))}
                data-testid="publish"
                title={
                  blocking.length > 0
                    ? 'Fix the problems before publishing'
                    : !editor.dirty && published?.number === version
                      ? `Version ${version} is published`
                      : 'Publish: API calls, webhooks and MCP run this version'
                }
              >
                Publish
              </button>
            )}
            {mode === 'edit' && canEdit && (
              <button
                type="button"
                className="btn btn-ghost"
                onClick={() => setNoteOpen(true)}
                disabled={doc.saving}
                aria-label="Save with a message"
                title="Save with a message (shown in Versions)"
                data-testid="save-with-message"
              >
                ✎
              </button>
            )}
            {mode === 'edit' && (
              <button
                type="button"
                className="btn btn-secondary"
                onClick={() => void save()}
                disabled={doc.saving || !canEdit}
                data-testid="save"
                title={canEdit ? 'Save (Ctrl/⌘ S)' : 'Saving takes the owner or editor role'}
              >
                {doc.saving ? 'Saving…' : 'Save'}
              </button>
            )}
            {mode !== 'preview' && pinCount > 0 && (
              <span className="pins-note" data-testid="pins-note" title="Test runs from here give pinned nodes their pinned output">
                <PinGlyph /> {pinCount} node{pinCount === 1 ? '' : 's'} pinned
              </span>
            )}
            {mode === 'edit' && runBlockedReason && (
              <span className="run-blocked" data-testid="run-blocked" role="status">
                Fix {blocking.length === 1 ? 'the problem' : `${blocking.length} problems`} to run
              </span>
            )}
            {mode !== 'preview' && (
              <button
                type="button"
                className="btn btn-primary"
                onClick={run.openDialog}
                disabled={!canRun || !!runBlockedReason}
                data-testid="run"
                title={!canRun ? 'Running takes the owner, editor or runner role' : runBlockedReason ?? 'Run (Ctrl/⌘ Enter)'}
              >
                ▷ {mode === 'run' ? 'Run again' : 'Run'}
              </button>
            )}
          </div>
        </header>

        {mode === 'preview' && preview && (
          <div className="banner banner-info preview-banner" role="status" data-testid="preview-banner">
            Viewing version {preview.number} (read-only).
            <button type="button" className="btn btn-primary btn-small" onClick={() => versions.restoreVersion(preview.number)}>
              Restore this version
            </button>
            <button type="button" className="btn btn-secondary btn-small" onClick={versions.closePreview}>
              Back to editing
            </button>
          </div>
        )}
        {mode === 'preview' && comparison && (
          <div className="banner banner-info preview-banner" role="status" data-testid="compare-banner">
            Comparing version {comparison.from} with version {comparison.to} (read-only): the canvas shows version {comparison.to}.
            <button type="button" className="btn btn-secondary btn-small" onClick={versions.closeComparison}>
              Back to editing
            </button>
          </div>
        )}
        {mode === 'edit' && recovery.state && (
          <div className="banner banner-info" role="status" data-testid="recovered-banner">
            {recovery.state.applied
              ? `Your unsaved changes from ${new Date(recovery.state.at).toLocaleString()} are back on the canvas; they are not saved yet.`
              : `You have unsaved changes from ${new Date(recovery.state.at).toLocaleString()}, made on version ${recovery.state.base ?? '?'}; version ${version ?? '?'} was saved since.`}
            {!recovery.state.applied && (
              <button type="button" className="btn btn-primary btn-small" onClick={recovery.restore} data-testid="recovered-restore">
                Put them back
              </button>
            )}
            <button type="button" className="btn btn-secondary btn-small" onClick={recovery.discard} data-testid="recovered-discard">
              Discard them
            </button>
            {recovery.state.applied && (
              <button type="button" className="btn btn-ghost btn-small" onClick={recovery.dismiss} data-testid="recovered-ok">
                OK
              </button>
            )}
          </div>
        )}
        {mode === 'edit' && !canEdit && (
          <div className="banner banner-info" role="status" data-testid="read-only-banner">
            Read-only: your role lets you look{canRun ? ' and run' : ''}; changing this workflow takes the owner or editor role.
          </div>
        )}
        {mode === 'edit' && grouped.graph.some((i) => i.code !== 'empty_graph') && (
          // an empty canvas says so itself (and the banner, late by a moment, outlived the first drop)
          <div className="banner banner-error graph-issues" role="status" data-testid="graph-issues">
            {grouped.graph.filter((i) => i.code !== 'empty_graph').map((issue, i) => (
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
            <Palette specs={catalogue.specs} status={catalogue.status} error={catalogue.error} onRetry={catalogue.retry} onAdd={addAtCentre} onDragBegin={hidePanelForDrag} />
          )}
          <main className="canvas-area" aria-label="Canvas">
            {mode === 'run' && live.error ? (
              <ErrorState title="Could not load the run" message={live.error} onRetry={live.reload} />
            ) : mode === 'run' && live.loading ? (
              <LoadingState label="Loading the run…" />
            ) : (
              <Canvas
                key={
                  mode === 'run'
                    ? `run-${runId}`
                    : mode === 'preview'
                      ? comparison
                        ? `compare-${comparison.from}-${comparison.to}`
                        : `preview-${preview?.number}`
                      : 'edit'
                }
                nodes={display ? display.nodes : editor.nodes}
                edges={display ? display.edges : editor.edges}
                editing={mode === 'edit' ? canvasEditing : undefined}
                snap={snap}
                onNodeClick={mode === 'run' ? run.onNodeClick : mode === 'edit' ? openSettings : undefined}
                onRefused={onRefused}
              />
            )}
            {drawer === 'versions' && (
              <VersionsPanel
                workflowId={workflowId}
                current={version}
                previewing={preview?.number ?? null}
                comparing={comparison}
                refreshKey={`${doc.savedCount}:${publishing.changes}`}
                canEdit={canEdit}
                onPublish={publishing.ask}
                onUnpublish={publishing.unpublish}
                onPreview={versions.previewVersion}
                onRestore={versions.restoreVersion}
                onCompare={compare}
                onClose={() => setDrawer('none')}
              />
            )}
            {drawer === 'runs' && <RunHistory workflowId={workflowId} activeRun={runId} refreshKey={runId} onClose={() => setDrawer('none')} />}
          </main>
          {mode === 'edit' && selectedNode && selectedNode.id !== quietNode && (
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
              pinSection={
                <PinSection
                  nodeId={selectedNode.id}
                  pinned={selectedNode.id in pins.pins}
                  value={pins.pins[selectedNode.id]}
                  last={lastRun.last}
                  lastLoading={lastRun.loading}
                  onNeedLast={lastRun.load}
                  canEdit={canEdit && pins.loaded}
                  saving={pins.saving}
                  error={pins.error}
                  onPin={(output) => pins.pin(selectedNode.id, output)}
                  onUnpin={() => pins.unpin(selectedNode.id)}
                />
              }
            />
          )}
          {mode === 'preview' && comparison && (
            <VersionComparePanel diff={comparison.diff} focus={compareFocus} onFocus={focusCompared} onClose={versions.closeComparison} />
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
              tab={run.tab}
              onTab={run.setTab}
              selectedStep={run.selectedStep}
              onSelectStep={run.selectStep}
              labelOf={labelOf}
              connection={live.connection}
              approvals={run.approvalsByStep}
              onDecide={(stepId) => run.decide('', stepId)}
              lineage={
                <>
                  <RunLineage
                    workflowId={workflowId}
                    view={live.view}
                    detail={live.detail}
                    runPath={travel.runPath}
                    labelOf={labelOf}
                    stepLabel={stepLabel}
                    onRetry={travel.retry}
                  />
                  <RunTrace detail={live.detail} />
                </>
              }
              nodeOf={nodeOf}
              flowGraph={flowGraph}
              stepExtra={(step) => (
                <StepTimeTravel step={step} depth={rerunDepthOf(live.view, step.id)} runPath={travel.runPath} onRerun={travel.open} />
              )}
            />
          )}
        </div>
        {mode === 'run' && live.view.status !== 'idle' && (
          <span className="sr-only" aria-live="polite">
            Run {runOutcome(live.view) ?? live.view.status}
          </span>
        )}
        <RunDialog
          open={run.dialogOpen}
          onClose={run.closeDialog}
          schema={run.inputSchema}
          dirty={mode === 'edit' && editor.dirty}
          storageKey={`flow.lastInput.${workflowId}`}
          onSubmit={run.startRun}
          note={
            <>
              {pinCount > 0 && (
                <p className="banner banner-info" data-testid="run-pins-note">
                  <PinGlyph /> {pinCount} node{pinCount === 1 ? '' : 's'} pinned: {pinCount === 1 ? 'it gives its' : 'they give their'} pinned output instead of running.
                </p>
              )}
              {published && (
                // the editor runs what it shows; callers keep getting the published version
                <p className="muted small" data-testid="run-version-note">
                  Runs the latest saved version{editor.dirty ? ' (your changes are saved first)' : version !== null ? ` (v${version})` : ''}. API calls, webhooks and MCP run the published
                  v{published.number}.
                </p>
              )}
            </>
          }
        />
        {travel.dialog}
        {publishing.dialog}
        <Modal
          title="Save with a message"
          open={noteOpen}
          onClose={() => setNoteOpen(false)}
          testId="save-note-dialog"
          footer={
            <>
              <span className="spacer" />
              <button type="button" className="btn btn-secondary" onClick={() => setNoteOpen(false)}>
                Cancel
              </button>
              <button
                type="button"
                className="btn btn-primary"
                data-testid="save-note-submit"
                onClick={async () => {
                  if (await save(note)) {
                    setNoteOpen(false);
                    setNote('');
                  }
                }}
              >
                Save
              </button>
            </>
          }
        >
          <form
            onSubmit={async (e) => {
              e.preventDefault();
              if (await save(note)) {
                setNoteOpen(false);
                setNote('');
              }
            }}
          >
            <label className="field-label" htmlFor="save-note-input">
              What changed? (optional)
            </label>
            <input
              id="save-note-input"
              className="input"
              maxLength={200}
              value={note}
              placeholder="e.g. Sharper instructions for the writer"
              data-testid="save-note-input"
              onChange={(e) => setNote(e.target.value)}
            />
          </form>
        </Modal>
      </div>
    </CanvasContext.Provider>
  );
}

