// Past runs of a workflow; opening one shows its final state on the canvas.

import { useCallback, useEffect, useState } from 'react';
import { errorMessage } from '../api/client';
import { api, type RunSummary } from '../api/resources';
import { EmptyState, ErrorState, LoadingState, StatusPill } from '../components/ui';
import { Link, paths } from '../router';
import { formatCost, formatDate, formatDuration } from './format';
import { toSeconds } from './reducer';

export function RunHistory({ workflowId, activeRun, onClose, refreshKey }: { workflowId: string; activeRun: string | null; onClose: () => void; refreshKey?: unknown }) {
  const [runs, setRuns] = useState<RunSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    setError(null);
    api.listRuns(workflowId).then(
      (page) => setRuns(page.results),
      (cause) => setError(errorMessage(cause)),
    );
  }, [workflowId]);
  useEffect(load, [load, refreshKey]);
  return (
    <aside className="drawer" aria-label="Run history" data-testid="run-history">
      <header className="panel-head">
        <div className="panel-title">
          <h2>Runs</h2>
        </div>
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
        {runs && runs.length > 0 && (
          <ul className="list">
            {runs.map((run) => {
              const started = toSeconds(run.started_at ?? run.created_at ?? null);
              const finished = toSeconds(run.finished_at ?? null);
              return (
                <li key={run.id}>
                  <Link
                    to={paths.run(workflowId, run.id)}
                    className={`list-row${activeRun === run.id ? ' selected' : ''}`}
                    data-testid={`run-item-${run.id}`}
                    aria-current={activeRun === run.id ? 'page' : undefined}
                  >
                    <StatusPill status={run.status} />
                    <span className="list-row-main">
                      <span>{formatDate(run.started_at ?? run.created_at ?? null) || run.id.slice(0, 8)}</span>
                      <span className="muted small">
                        {run.version ? `v${run.version}` : ''}
                        {started && finished ? ` · ${formatDuration((finished - started) * 1000)}` : ''}
                        {run.totals?.cost ? ` · ${formatCost(run.totals.cost)}` : ''}
                      </span>
                    </span>
                  </Link>
                </li>
              );
            })}
          </ul>
        )}
      </div>
    </aside>
  );
}
