// Where a run stands among its re-runs: the run it was made from (and a comparison with it), the
// runs made from it, and Retry on a failed or cancelled run; on a step, where a reused output
// came from and the buttons that start a new run from that step.

import type { RunDetail } from '../api/resources';
import { StatusPill } from '../components/ui';
import { formatCost } from './format';
import { Link, paths } from '../router';
import { canEditOutput, canRerunFrom, modeLabel, reusedLabel, shortId, sourcePrefix } from './rerun';
import type { RunView, StepView } from './reducer';
import './timeTravel.css';

export interface RunLineageProps {
  workflowId: string;
  view: RunView;
  detail: RunDetail | null;
  runPath: (runId: string, step?: string | null) => string;
  labelOf: (nodeId: string) => string;
  /** a step's label where its node is not the canvas's (a sub-flow's step) */
  stepLabel?: (stepId: string) => string | undefined;
  onRetry?: () => void;
}

export function RunLineage({ workflowId, view, detail, runPath, labelOf, stepLabel, onRetry }: RunLineageProps) {
  const source = view.source ?? detail?.source ?? null;
  const reruns = detail?.reruns ?? [];
  if (!source && !reruns.length && !onRetry) return null;
  const stepName = (key: string) => {
    const named = stepLabel?.(key);
    if (named) return named;
    const node = view.steps[key]?.node ?? key;
    return labelOf(node);
  };
  return (
    <div className="run-lineage" data-testid="run-lineage">
      {source && (
        <p className="run-source" data-testid="run-source">
          <span aria-hidden="true">↺ </span>
          {source.mode === 'pinned' || !source.run ? (
            <>{source.mode === 'pinned' ? 'Test run with pinned data.' : `${sourcePrefix(source.mode)} a deleted run.`}</>
          ) : (
            <>
              {sourcePrefix(source.mode)}{' '}
              <Link to={runPath(source.run, source.step)} data-testid="run-source-link">
                {shortId(source.run)}
              </Link>
              {source.step && (
                <>
                  {' '}
                  {source.mode === 'edit' ? 'at' : 'from'} step <strong>{stepName(source.step)}</strong>
                </>
              )}
              .{' '}
              {view.runId && (
                <Link to={paths.compareRuns(workflowId, source.run, view.runId)} className="run-compare-link" data-testid="compare-source">
                  Compare with source run
                </Link>
              )}
            </>
          )}
        </p>
      )}
      {onRetry && (
        <div className="run-retry">
          <button type="button" className="btn btn-primary btn-small" data-testid="retry-run" onClick={onRetry}>
            ↻ Retry
          </button>
          <span className="muted small">reuses every unchanged step; on this version or the current one</span>
        </div>
      )}
      {reruns.length > 0 && (
        <div className="run-reruns" data-testid="run-reruns">
          <span className="muted small">Re-runs made from this run:</span>
          <ul>
            {reruns.map((rerun) => (
              <li key={rerun.id}>
                <Link to={runPath(rerun.id)} data-testid={`rerun-link-${rerun.id}`}>
                  {shortId(rerun.id)}
                </Link>{' '}
                <span className="muted small">
                  {modeLabel(rerun.mode)}
                  {rerun.step ? ` from ${stepName(rerun.step)}` : ''}
                </span>{' '}
                <StatusPill status={rerun.status} />
                {view.runId && (
                  <Link to={paths.compareRuns(workflowId, view.runId, rerun.id)} className="btn btn-link btn-small" data-testid={`compare-rerun-${rerun.id}`}>
                    Compare
                  </Link>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

export interface StepTimeTravelProps {
  step: StepView;
  /** 0: a top-level step; 1: a task it delegated; deeper ones cannot be re-run from */
  depth: number;
  runPath: (runId: string, step?: string | null) => string;
  /** open the re-run dialog; undefined where the user may not start runs */
  onRerun?: (mode: 'from' | 'edit', stepId: string) => void;
}

/** On the run panel's step: where a reused output came from, and Re-run from here / Edit output. */
export function StepTimeTravel({ step, depth, runPath, onRerun }: StepTimeTravelProps) {
  const from = step.reusedFrom;
  const rerun = onRerun && canRerunFrom(step, depth);
  const edit = onRerun && canEditOutput(step, depth);
  if (!from && !rerun && !edit) return null;
  return (
    <div className="step-time-travel">
      {from && (
        <p className={`reused-note reused-${from.kind}`} data-testid="step-reused-from">
          <span className="reused-chip">{reusedLabel(from)}</span>{' '}
          {from.kind === 'pinned' && 'The workflow’s pinned output, given instead of running.'}
          {from.kind !== 'pinned' && (
            <>
              {from.kind === 'edited' ? 'An output typed in place of ' : 'Taken from '}
              {from.run ? (
                <Link to={runPath(from.run, from.step)} data-testid="step-reused-link">
                  run {shortId(from.run)} · step {from.step}
                </Link>
              ) : (
                'a run since deleted'
              )}
              {from.kind === 'recorded' &&
                (from.cost ? `; it cost ${formatCost(from.cost)} there, nothing here, and took no time.` : '; it took no time here.')}
            </>
          )}
        </p>
      )}
      {(rerun || edit) && (
        <div className="step-actions">
          {rerun && (
            <button type="button" className="btn btn-secondary btn-small" data-testid="step-rerun-from" onClick={() => onRerun!('from', step.id)}>
              ↻ Re-run from here
            </button>
          )}
          {edit && (
            <button type="button" className="btn btn-secondary btn-small" data-testid="step-edit-output" onClick={() => onRerun!('edit', step.id)}>
              ✎ Edit output
            </button>
          )}
        </div>
      )}
    </div>
  );
}
