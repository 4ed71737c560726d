// Past runs of a workflow; opening one shows its final state on the canvas. Two runs picked (or
// the open run and another) can be compared side by side.

import { useCallback, useEffect, useState } from 'react';
import { errorMessage } from '../api/client';
import { api, type RunSummary } from '../api/resources';
import { EmptyState, ErrorState, LoadingState, StatusPill } from '../components/ui';
import { usePanelWidth } from '../components/usePanelWidth';
import { Link, navigate, paths } from '../router';
import { formatCost, formatDate, formatDuration } from './format';
import { toSeconds } from './reducer';
import { modeLabel, shortId } from './rerun';
import './timeTravel.css';

export function RunHistory({ workflowId, activeRun, onClose, refreshKey }: { workflowId: string; activeRun: string | null; onClose: () => void; refreshKey?: unknown }) {
  const [runs, setRuns] = useState<RunSummary[] | null>(null);
  const size = usePanelWidth('runs', 320);
  const [error, setError] = useState<string | null>(null);
  const [picked, setPicked] = useState<string[]>([]);
  const pick = (id: string, on: boolean) =>
    setPicked((now) => (on ? [...now.filter((p) => p !== id), id].slice(-2) : now.filter((p) => p !== id)));
  const load = useCallback(() => {
    setError(null);
    api.listRuns(workflowId).then(
      (page) => setRuns(page.results),
      (cause) => setError(errorMessage(cause)),
    );
  }, [workflowId]);
  useEffect(load, [load, refreshKey]);
  return (
    <aside className="drawer" aria-label="Run history" data-testid="run-history" style={size.style}>
      {size.grip}
      <header className="panel-head">
        <div className="panel-title">
          <h2>Runs</h2>
        </div>
        <Link to={paths.runs(`workflow=${encodeURIComponent(workflowId)}`)} className="btn btn-link btn-small" data-testid="run-history-all">
          All runs, with filters →
        </Link>
        <button type="button" className="icon-btn" aria-label="Refresh runs" onClick={load}>
          ↻
        </button>
        <button type="button" className="icon-btn" aria-label="Close runs" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="panel-body">
        {error && <ErrorState message={error} onRetry={load} />}
        {!error && runs === null && <LoadingState label="Loading runs…" />}
        {runs && runs.length === 0 && (
          <EmptyState title="No runs yet" icon="▷">
            Press Run to start one.
          </EmptyState>
        )}
        {runs && runs.length > 1 && (
          <div className="run-history-compare" data-testid="run-history-compare">
            <span className="muted small">{picked.length < 2 ? `Pick two runs to compare (${picked.length} of 2)` : 'Two runs picked'}</span>
            <button
              type="button"
              className="btn btn-secondary btn-small"
              data-testid="compare-picked-runs"
              disabled={picked.length !== 2}
              onClick={() => {
                // the older run on the left: A → B reads as what changed since
                const order = runs.map((r) => r.id);
                const [a, b] = [...picked].sort((x, y) => order.indexOf(y) - order.indexOf(x));
                navigate(paths.compareRuns(workflowId, a, b));
              }}
            >
              Compare
            </button>
          </div>
        )}
        {runs && runs.length > 0 && (
          <ul className="list">
            {runs.map((run) => {
              const started = toSeconds(run.started_at ?? run.created_at ?? null);
              const finished = toSeconds(run.finished_at ?? null);
              return (
                <li key={run.id} className="run-history-item">
                  {runs.length > 1 && (
                    <input
                      type="checkbox"
                      className="run-pick"
                      aria-label={`Pick run ${shortId(run.id)} to compare`}
                      data-testid={`pick-run-${run.id}`}
                      checked={picked.includes(run.id)}
                      onChange={(e) => pick(run.id, e.target.checked)}
                    />
                  )}
                  <Link
                    to={paths.run(workflowId, run.id)}
                    className={`list-row${activeRun === run.id ? ' selected' : ''}`}
                    data-testid={`run-item-${run.id}`}
                    aria-current={activeRun === run.id ? 'page' : undefined}
                  >
                    <StatusPill status={run.outcome === 'rejected' ? 'rejected' : run.status} testId={`run-item-status-${run.id}`} />
                    <span className="list-row-main">
                      <span>{formatDate(run.started_at ?? run.created_at ?? null) || run.id.slice(0, 8)}</span>
                      <span className="muted small">
                        {run.version ? `v${run.version}` : ''}
                        {started && finished ? ` · ${formatDuration((finished - started) * 1000)}` : ''}
                        {run.totals?.cost ? ` · ${formatCost(run.totals.cost)}` : ''}
                        {run.source ? ` · ↺ ${modeLabel(run.source.mode)}` : ''}
                      </span>
                    </span>
                  </Link>
                  {activeRun && activeRun !== run.id && (
                    <Link
                      to={paths.compareRuns(workflowId, run.id, activeRun)}
                      className="btn btn-link btn-small run-history-vs"
                      title="Compare this run with the one open"
                      data-testid={`compare-with-${run.id}`}
                    >
                      vs open
                    </Link>
                  )}
                </li>
              );
            })}
          </ul>
        )}
      </div>
    </aside>
  );
}
