// Time travel on the run view: which dialog is open (re-run from a step, edit its output, retry),
// what its preview marks on the canvas, and going to the new run once it has started. A link to
// a run may name a step (?step=<key>): the run view opens that step.

import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import type { Graph } from '../api/graph';
import type { Verdict } from '../api/timeTravel';
import { navigate, paths } from '../router';
import { RerunDialog, type RerunTarget } from './RerunDialog';
import { isFinished } from './reducer';
import { canRetry } from './rerun';
import type { LiveRun } from './useRunView';

export interface TimeTravelInput {
  workflowId: string;
  runId: string | null;
  live: LiveRun;
  /** whether the user's role may start runs */
  canRun: boolean;
  /** the workflow's newest version */
  currentVersion: number | null;
  /** the graph the run ran: its nodes' labels */
  graph: Graph;
  /** select a step in the run panel */
  selectStep: (stepId: string) => void;
  /** show the run panel's output (a new run opens on it) */
  showOutput: () => void;
  /** a step's label where its node is not the canvas's (a sub-flow's step) */
  stepLabel?: (stepId: string) => string | undefined;
}

export interface TimeTravel {
  /** open the dialog for a step of the run on the page; undefined where the user may not run */
  open: ((mode: 'from' | 'edit', stepId: string) => void) | undefined;
  retry: (() => void) | undefined;
  /** what the open dialog's preview says of each node (null: no preview to show) */
  plan: ReadonlyMap<string, Verdict> | null;
  /** a run of this workflow, a step of it opened */
  runPath: (runId: string, step?: string | null) => string;
  dialog: ReactNode;
}

export function useTimeTravel({ workflowId, runId, live, canRun, currentVersion, graph, selectStep, showOutput, stepLabel }: TimeTravelInput): TimeTravel {
  const [target, setTarget] = useState<RerunTarget | null>(null);
  const [plan, setPlan] = useState<ReadonlyMap<string, Verdict> | null>(null);
  const viewRef = useRef(live.view);
  viewRef.current = live.view;

  // another run on the page: no dialog of the last one stays open
  useEffect(() => {
    setTarget(null);
    setPlan(null);
  }, [runId]);

  // ?step=<key> in the address opens that step once the run has loaded
  const loaded = !!live.detail && live.detail.id === runId;
  useEffect(() => {
    if (!loaded) return;
    const wanted = new URLSearchParams(window.location.search).get('step');
    if (wanted && viewRef.current.steps[wanted]) selectStep(wanted);
  }, [loaded, runId, selectStep]);

  const stepLabelRef = useRef(stepLabel);
  stepLabelRef.current = stepLabel;
  const openStep = useCallback((mode: 'from' | 'edit', stepId: string) => {
    const step = viewRef.current.steps[stepId];
    if (!step) return;
    const label = step.inFlow !== null ? stepLabelRef.current?.(step.id) : undefined;
    setTarget({ mode, step: step.id, node: step.node, output: step.output, label });
  }, []);
  const retry = useCallback(() => setTarget({ mode: 'retry' }), []);
  const close = useCallback(() => setTarget(null), []);
  const runPath = useCallback(
    (id: string, step?: string | null) => `${paths.run(workflowId, id)}${step ? `?step=${encodeURIComponent(step)}` : ''}`,
    [workflowId],
  );

  const labelOf = useCallback((id: string) => graph.nodes.find((n) => n.id === id)?.label || id, [graph]);
  const allowed = canRun && !!runId;
  const runVersion = typeof live.detail?.version === 'number' ? live.detail.version : null;
  const dialog = runId ? (
    <RerunDialog
      // a fresh dialog for each step and mode: nothing of the last one's preview shows
      key={`${runId}:${target?.mode ?? ''}:${target && target.mode !== 'retry' ? target.step : ''}`}
      runId={runId}
      target={target}
      labelOf={labelOf}
      runVersion={runVersion}
      currentVersion={currentVersion}
      onClose={close}
      onPlan={setPlan}
      onStarted={(run) => {
        setTarget(null);
        showOutput();
        navigate(paths.run(workflowId, run.id));
      }}
    />
  ) : null;

  return {
    open: allowed ? openStep : undefined,
    retry: allowed && isFinished(live.view) && canRetry(live.view) ? retry : undefined,
    plan,
    runPath,
    dialog,
  };
}
