// The run side of the editor page: the run dialog and starting a run (saving first), cancelling
// one, which step the run panel shows, and the approvals of a run's gate steps.

import type { NodeMouseHandler } from '@xyflow/react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { Approval } from '../api/approvals';
import { errorMessage } from '../api/client';
import type { Graph, JsonSchema, NodeTypeSpec } from '../api/graph';
import { FINISHED_RUN_STATUSES } from '../api/events';
import { api } from '../api/resources';
import { useApprovals } from '../approvals/ApprovalsProvider';
import { useRunApprovals } from '../approvals/useRunApprovals';
import { useToast } from '../components/toast';
import type { StepNode } from '../graph/convert';
import { navigate, paths } from '../router';
import type { RunTab } from './RunPanel';
import type { LiveRun } from './useRunView';

export interface RunControlsInput {
  workflowId: string;
  /** the run on the page, if it shows one */
  runId: string | null;
  live: LiveRun;
  /** the graph the run ran */
  runGraph: Graph;
  catalogue: ReadonlyMap<string, NodeTypeSpec>;
  /** the graph being edited, its unsaved state, and saving it: a run starts from the saved version */
  graph: Graph;
  dirty: boolean;
  save: () => Promise<boolean>;
  /** start runs with the workflow's pinned data (the editor's test runs, when a node is pinned) */
  usePins?: boolean;
}

export interface RunControls {
  dialogOpen: boolean;
  openDialog: () => void;
  closeDialog: () => void;
  /** what the run dialog asks for: the input node's fields */
  inputSchema: JsonSchema | null;
  startRun: (input: unknown) => Promise<void>;
  cancelRun: () => Promise<void>;
  tab: RunTab;
  setTab: (tab: RunTab) => void;
  selectedStep: string | null;
  selectStep: (stepId: string) => void;
  /** stable (the view is read when clicked): a new handler per event would re-render the canvas */
  onNodeClick: NodeMouseHandler<StepNode>;
  approvalsByStep: Record<string, Approval>;
  /** opens the decision dialog of a gate step's approval */
  decide: (nodeId: string, stepId: string) => void;
}

export function useRunControls({ workflowId, runId, live, runGraph, catalogue, graph, dirty, save, usePins = false }: RunControlsInput): RunControls {
  const toast = useToast();
  const [dialogOpen, setDialogOpen] = useState(false);
  const [tab, setTab] = useState<RunTab>('output');
  const [selectedStep, setSelectedStep] = useState<string | null>(null);
  // a cancel asked from this page: its "Cancelling…" toast becomes "Run cancelled." when it is
  const cancelling = useRef(false);

  const inputSchema = useMemo<JsonSchema | null>(() => {
    const input = graph.nodes.find((n) => n.type === 'input');
    const fields = input?.config.fields;
    return fields && typeof fields === 'object' ? (fields as JsonSchema) : null;
  }, [graph]);

  const startRun = useCallback(
    async (input: unknown) => {
      if (dirty && !(await save())) throw new Error('Save failed; the run was not started.');
      // the editor runs what it shows, the latest saved version, even when another is published
      const run = await api.startRun(workflowId, input, usePins, 'latest');
      setDialogOpen(false);
      setSelectedStep(null);
      setTab('output');
      navigate(paths.run(workflowId, run.id));
    },
    [dirty, save, workflowId, usePins],
  );

  const cancelRun = useCallback(async () => {
    if (!runId) return;
    // Said before the request: the run's cancellation can reach the page over its socket before
    // the answer to the request does, and must then find this page waiting for it.
    cancelling.current = true;
    toast.show('Cancelling the run…', 'info', { key: `run:${runId}:cancel`, duration: 30_000 });
    try {
      await api.cancelRun(runId);
    } catch (error) {
      cancelling.current = false;
      toast.dismiss(`run:${runId}:cancel`);
      toast.show(`Could not cancel: ${errorMessage(error)}`, 'error');
    }
  }, [runId, toast]);

  const selectStep = useCallback((stepId: string) => {
    setSelectedStep(stepId);
    setTab('step');
  }, []);

  const liveView = useRef(live.view);
  liveView.current = live.view;
  const onNodeClick: NodeMouseHandler<StepNode> = useCallback(
    (_event, node) => {
      const step = liveView.current.nodes[node.id]?.step;
      if (step) selectStep(step);
    },
    [selectStep],
  );

  // approval gates in the run: their approvals, and the Decide button on a waiting one
  const { open: openApproval } = useApprovals();
  const gateNodes = useMemo(
    () =>
      new Set(
        runId
          ? runGraph.nodes.filter((n) => n.type === 'approval' || catalogue.get(n.type)?.category === 'human').map((n) => n.id)
          : [],
      ),
    [runId, runGraph, catalogue],
  );
  const runApprovals = useRunApprovals(runId, live.view, gateNodes);
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

  // Once the run is over, what its toasts said is no longer true: "Cancelling the run…" turns
  // into "Run cancelled." and its "Approval needed" toasts go (its approvals expired with it).
  const status = live.view.status;
  const { dismiss, show } = toast;
  useEffect(() => {
    if (!runId || !FINISHED_RUN_STATUSES.has(status)) return;
    dismiss(`approval:${runId}:`);
    dismiss(`run:${runId}:cancel`);
  }, [runId, status, dismiss]);
  useEffect(() => {
    if (status === 'cancelled' && cancelling.current) {
      cancelling.current = false;
      show('Run cancelled.', 'success', { key: `run:${runId}:cancelled` });
    }
  }, [status, runId, show]);

  const openDialog = useCallback(() => setDialogOpen(true), []);
  const closeDialog = useCallback(() => setDialogOpen(false), []);
  return {
    dialogOpen,
    openDialog,
    closeDialog,
    inputSchema,
    startRun,
    cancelRun,
    tab,
    setTab,
    selectedStep,
    selectStep,
    onNodeClick,
    approvalsByStep: runApprovals.byStep,
    decide,
  };
}
