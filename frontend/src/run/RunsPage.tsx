// Every run of the workflows in my workspaces, newest first: filter by outcome, workflow, who
// started it, how, and when, or search by workflow name or run id; open one, see its input at a
// glance, or run it again with the same input (on the workflow's latest saved version).

import { useCallback, useEffect, useMemo, useState } from 'react';
import { errorMessage } from '../api/client';
import { api, type RunFilters, type RunRow, type WorkflowSummary } from '../api/resources';
import { EmptyState, ErrorState, LoadingState, StatusPill } from '../components/ui';
import { useToast } from '../components/toast';
import { Link, navigate, paths } from '../router';
import { formatCost, formatDate, formatDuration } from './format';
import { toSeconds } from './reducer';

const OUTCOMES: [string, string][] = [
  ['', 'Any outcome'],
  ['succeeded', 'Succeeded'],
  ['rejected', 'Rejected'],
  ['failed', 'Failed'],
  ['cancelled', 'Cancelled'],
  ['running', 'Running'],
  ['waiting', 'Waiting'],
];
const TRIGGERS: [string, string][] = [
  ['', 'Any trigger'],
  ['session', 'From the app'],
  ['token', 'API token'],
  ['webhook', 'Webhook'],
  ['command', 'Command line'],
  ['rerun', 'Re-run'],
];

/** The filters as the page's query string has them (so a filtered list can be linked to). */
function filtersFromUrl(): RunFilters {
  const params = new URLSearchParams(window.location.search);
  const found: RunFilters = {};
  for (const key of ['workflow', 'outcome', 'started_by', 'trigger', 'since', 'until', 'search'] as const) {
    const value = params.get(key);
    if (value) found[key] = value;
  }
  return found;
}

function cleaned(filters: RunFilters): RunFilters {
  return Object.fromEntries(Object.entries(filters).filter(([, v]) => typeof v === 'string' && v.trim())) as RunFilters;
}

export function RunsPage() {
  const toast = useToast();
  const [filters, setFilters] = useState<RunFilters>(filtersFromUrl);
  const [typed, setTyped] = useState(filters.search ?? '');
  const [rows, setRows] = useState<RunRow[] | null>(null);
  const [count, setCount] = useState(0);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [workflows, setWorkflows] = useState<WorkflowSummary[]>([]);
  const [again, setAgain] = useState<string | null>(null);
  const active = useMemo(() => cleaned(filters), [filters]);
  const key = JSON.stringify(active);

  useEffect(() => {
    document.title = 'Runs — Flows';
    api.listWorkflows().then(
      (page) => setWorkflows(page.results),
      () => undefined, // the workflow filter is a convenience; the list works without it
    );
  }, []);
  // the search box filters a moment after typing stops
  useEffect(() => {
    const timer = setTimeout(() => setFilters((f) => ({ ...f, search: typed.trim() || undefined })), 300);
    return () => clearTimeout(timer);
  }, [typed]);

  const load = useCallback(() => {
    const abort = new AbortController();
    setError(null);
    setRows(null);
    const query = new URLSearchParams(active as Record<string, string>).toString();
    window.history.replaceState(window.history.state, '', paths.runs(query));
    api.searchRuns(active, undefined, abort.signal).then(
      (page) => {
        setRows(page.results);
        setCount(page.count);
        setNext(page.next);
      },
      (cause) => {
        if (!abort.signal.aborted) setError(errorMessage(cause));
      },
    );
    return () => abort.abort();
    // the filters' content, not the object, decides
  }, [key]);
  useEffect(load, [load]);

  const loadMore = async () => {
    if (!next) return;
    try {
      const page = await api.searchRuns({}, next);
      setRows((list) => [...(list ?? []), ...page.results]);
      setNext(page.next);
    } catch (cause) {
      toast.show(errorMessage(cause), 'error');
    }
  };

  const runAgain = async (row: RunRow) => {
    setAgain(row.id);
    try {
      const detail = await api.getRun(row.id);
      // as the editor's Run: the latest saved version, even when another one is published
      const started = await api.startRun(row.workflow ?? '', detail.input ?? {}, false, 'latest');
      toast.show(`Started again with the same input (${row.workflow_name}).`, 'success');
      navigate(paths.run(row.workflow ?? '', started.id));
    } catch (cause) {
      toast.show(`Could not run it again: ${errorMessage(cause)}`, 'error');
    } finally {
      setAgain(null);
    }
  };

  const set = (name: keyof RunFilters) => (value: string) => setFilters((f) => ({ ...f, [name]: value || undefined }));
  const filtered = Object.keys(active).length > 0;

  return (
    <div className="page list-page runs-page" data-testid="runs-page">
      <header className="page-head">
        <div>
          <h1>Runs</h1>
          <p className="muted">{rows ? `${count} run${count === 1 ? '' : 's'}${filtered ? ' matching the filters' : ''}` : '\u00a0'}</p>
        </div>
        <div className="page-actions">
          <Link to={paths.list()} className="btn btn-secondary">
            Workflows
          </Link>
        </div>
      </header>
      <div className="runs-filters" role="search" aria-label="Filter runs">
        <input
          type="search"
          className="input"
          placeholder="Workflow name or run id…"
          aria-label="Search runs"
          value={typed}
          data-testid="runs-search"
          onChange={(e) => setTyped(e.target.value)}
        />
        <select className="input" aria-label="Outcome" value={filters.outcome ?? ''} data-testid="runs-outcome" onChange={(e) => set('outcome')(e.target.value)}>
          {OUTCOMES.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
        <select className="input" aria-label="Workflow" value={filters.workflow ?? ''} data-testid="runs-workflow" onChange={(e) => set('workflow')(e.target.value)}>
          <option value="">Any workflow</option>
          {workflows.map((w) => (
            <option key={w.id} value={w.id}>
              {w.name}
            </option>
          ))}
        </select>
        <select className="input" aria-label="Trigger" value={filters.trigger ?? ''} data-testid="runs-trigger" onChange={(e) => set('trigger')(e.target.value)}>
          {TRIGGERS.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
        <input
          className="input"
          placeholder="Started by (username)"
          aria-label="Started by"
          value={filters.started_by ?? ''}
          data-testid="runs-started-by"
          onChange={(e) => set('started_by')(e.target.value.trim())}
        />
        <label className="runs-date">
          From <input type="date" className="input" value={filters.since ?? ''} data-testid="runs-since" onChange={(e) => set('since')(e.target.value)} />
        </label>
        <label className="runs-date">
          to <input type="date" className="input" value={filters.until ?? ''} data-testid="runs-until" onChange={(e) => set('until')(e.target.value)} />
        </label>
        {filtered && (
          <button
            type="button"
            className="btn btn-ghost btn-small"
            data-testid="runs-clear"
            onClick={() => {
              setTyped('');
              setFilters({});
            }}
          >
            Clear filters
          </button>
        )}
      </div>
      {error && <ErrorState message={error} onRetry={load} />}
      {!error && rows === null && <LoadingState label="Loading runs…" />}
      {rows && rows.length === 0 && (
        <EmptyState title={filtered ? 'No run matches' : 'No runs yet'} icon="▷">
          {filtered ? 'Change or clear the filters.' : 'Open a workflow and press Run.'}
        </EmptyState>
      )}
      {rows && rows.length > 0 && (
        <table className="table" data-testid="runs-table">
          <thead>
            <tr>
              <th scope="col">Outcome</th>
              <th scope="col">Workflow</th>
              <th scope="col">Started</th>
              <th scope="col">By</th>
              <th scope="col">Input</th>
              <th scope="col">Time · cost</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => {
              const started = toSeconds(row.started_at ?? row.created_at ?? null);
              const finished = toSeconds(row.finished_at ?? null);
              return (
                <tr key={row.id} data-testid={`runs-row-${row.id}`}>
                  <td>
                    <StatusPill status={row.outcome === 'rejected' ? 'rejected' : row.status} testId={`runs-status-${row.id}`} />
                  </td>
                  <td>
                    <Link to={paths.run(row.workflow ?? '', row.id)} className="row-link" data-testid={`runs-open-${row.id}`}>
                      {row.workflow_name}
                    </Link>
                    <div className="muted small">
                      v{row.version} · <code>{row.id.slice(0, 8)}</code>
                      {row.source ? ' · re-run' : ''}
                    </div>
                  </td>
                  <td title={row.created_at}>{formatDate(row.started_at ?? row.created_at ?? null)}</td>
                  <td>{row.started_by ?? <span className="muted">—</span>}</td>
                  <td className="runs-input" title={row.input_preview}>
                    {row.input_preview ? <code data-testid={`runs-input-${row.id}`}>{row.input_preview}</code> : <span className="muted">none</span>}
                  </td>
                  <td className="muted small">
                    {started && finished ? formatDuration((finished - started) * 1000) : '…'}
                    {row.totals?.cost ? ` · ${formatCost(row.totals.cost)}` : ''}
                  </td>
                  <td className="row-actions">
                    <button
                      type="button"
                      className="btn btn-ghost btn-small"
                      disabled={again !== null}
                      data-testid={`runs-again-${row.id}`}
                      title="Start a new run of the workflow's latest saved version with this run's input"
                      onClick={() => void runAgain(row)}
                    >
                      {again === row.id ? 'Starting…' : 'Run again'}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {next && (
        <div className="center">
          <button type="button" className="btn btn-secondary" onClick={loadMore}>
            Load more
          </button>
        </div>
      )}
    </div>
  );
}
