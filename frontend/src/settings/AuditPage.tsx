// /settings/audit: the workspace's audit log, for its owners. A table of who did what, to which
// object, when and how (browser session, API token, webhook), with filters and "Load more".
// Other members see why it is empty instead of an error: only owners may read it.

import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { ACTION_GROUPS, TARGET_TYPES, actionText, listAudit, type AuditEntry, type AuditFilters } from '../api/audit';
import { ApiError, errorMessage } from '../api/client';
import type { WorkspaceSummary } from '../api/workspaces';
import { LoadStatus } from '../components/LoadStatus';
import { EmptyState } from '../components/ui';
import { isAbort } from '../components/useLoad';
import { formatDate } from '../run/format';

type Load =
  | { status: 'loading' }
  | { status: 'forbidden' }
  | { status: 'error'; error: unknown }
  | { status: 'ready'; entries: AuditEntry[]; count: number; page: number; more: boolean; loadingMore: boolean };

const EMPTY_FILTERS: AuditFilters = { action: '', actor: '', target_type: '', since: '' };

export function AuditPage({ workspace }: { workspace: WorkspaceSummary }) {
  const isOwner = workspace.role === 'owner';
  const [filters, setFilters] = useState<AuditFilters>(EMPTY_FILTERS);
  const [draft, setDraft] = useState<AuditFilters>(EMPTY_FILTERS);
  const [load, setLoad] = useState<Load>(isOwner ? { status: 'loading' } : { status: 'forbidden' });
  const [moreError, setMoreError] = useState<string | null>(null);

  useEffect(() => {
    document.title = 'Audit log — Flows';
  }, []);

  const fetchFirst = useCallback(
    (signal?: AbortSignal) => {
      if (!isOwner) return;
      setLoad({ status: 'loading' });
      setMoreError(null);
      listAudit(workspace.id, filters, 1, { signal })
        .then((page) => setLoad({ status: 'ready', entries: page.results, count: page.count, page: 1, more: page.next !== null, loadingMore: false }))
        .catch((error: unknown) => {
          if (isAbort(error)) return;
          // The role may have changed since the workspace list was loaded.
          if (error instanceof ApiError && error.status === 403 && !error.needsLogin) setLoad({ status: 'forbidden' });
          else setLoad({ status: 'error', error });
        });
    },
    [isOwner, workspace.id, filters],
  );

  useEffect(() => {
    const controller = new AbortController();
    fetchFirst(controller.signal);
    return () => controller.abort();
  }, [fetchFirst]);

  const loadMore = async () => {
    if (load.status !== 'ready' || !load.more || load.loadingMore) return;
    const next = load.page + 1;
    setLoad({ ...load, loadingMore: true });
    setMoreError(null);
    try {
      const page = await listAudit(workspace.id, filters, next);
      setLoad((current) =>
        current.status === 'ready'
          ? {
              status: 'ready',
              // An entry written between the two requests shifts the pages by one: skip repeats.
              entries: [...current.entries, ...page.results.filter((e) => !current.entries.some((c) => c.id === e.id))],
              count: page.count,
              page: next,
              more: page.next !== null,
              loadingMore: false,
            }
          : current,
      );
    } catch (error) {
      setMoreError(errorMessage(error));
      setLoad((current) => (current.status === 'ready' ? { ...current, loadingMore: false } : current));
    }
  };

  const apply = (event: FormEvent) => {
    event.preventDefault();
    setFilters({ ...draft });
  };

  const clear = () => {
    setDraft(EMPTY_FILTERS);
    setFilters(EMPTY_FILTERS);
  };

  const filtered = Object.values(filters).some((value) => value && value.trim());

  return (
    <div className="page list-page" data-testid="audit-page">
      <header className="page-head">
        <div>
          <h1>Audit log</h1>
          <p className="muted">
            Who created, changed, ran, approved and deleted what in <strong>{workspace.name}</strong>, newest first.
          </p>
        </div>
      </header>

      {load.status === 'forbidden' ? (
        <div data-testid="audit-forbidden">
          <EmptyState title="Only owners can see the audit log" icon="🔒">
            Your role in {workspace.name} is {workspace.role}. Ask an owner of the workspace if you need to know who did what.
          </EmptyState>
        </div>
      ) : (
        <>
          <form className="models-add" onSubmit={apply} data-testid="audit-filters" aria-label="Filter the audit log">
            <div className="models-add-fields">
              <div className="field">
                <label className="field-label" htmlFor="audit-action">
                  Action
                </label>
                <select id="audit-action" className="input" value={draft.action} data-testid="audit-filter-action" onChange={(e) => setDraft({ ...draft, action: e.target.value })}>
                  <option value="">any</option>
                  {ACTION_GROUPS.map((group) => (
                    <option key={group.value} value={group.value}>
                      {group.label}
                    </option>
                  ))}
                </select>
              </div>
              <div className="field">
                <label className="field-label" htmlFor="audit-actor">
                  Who
                </label>
                <input id="audit-actor" className="input" value={draft.actor} maxLength={150} placeholder="username" autoComplete="off" data-testid="audit-filter-actor" onChange={(e) => setDraft({ ...draft, actor: e.target.value })} />
              </div>
              <div className="field">
                <label className="field-label" htmlFor="audit-target">
                  Target
                </label>
                <select id="audit-target" className="input" value={draft.target_type} data-testid="audit-filter-target" onChange={(e) => setDraft({ ...draft, target_type: e.target.value })}>
                  <option value="">any</option>
                  {TARGET_TYPES.map((type) => (
                    <option key={type} value={type}>
                      {type}
                    </option>
                  ))}
                </select>
              </div>
              <div className="field">
                <label className="field-label" htmlFor="audit-since">
                  Since
                </label>
                <input id="audit-since" type="date" className="input" value={draft.since} data-testid="audit-filter-since" onChange={(e) => setDraft({ ...draft, since: e.target.value })} />
              </div>
            </div>
            <div className="row-actions">
              <button type="submit" className="btn btn-primary btn-small" data-testid="audit-apply">
                Filter
              </button>
              {filtered && (
                <button type="button" className="btn btn-ghost btn-small" onClick={clear} data-testid="audit-clear">
                  Clear filters
                </button>
              )}
            </div>
          </form>

          <LoadStatus load={load} loading="Loading the audit log…" errorTitle="Could not load the audit log" errorTestId="audit-error" onRetry={() => fetchFirst()} />
          {load.status === 'ready' && load.entries.length === 0 && (
            <div data-testid="audit-empty">
              <EmptyState title={filtered ? 'Nothing matches these filters' : 'Nothing recorded yet'}>
                {filtered ? 'Try a wider filter, or clear them.' : 'Actions in this workspace appear here as they happen.'}
              </EmptyState>
            </div>
          )}
          {load.status === 'ready' && load.entries.length > 0 && (
            <>
              <table className="table" data-testid="audit-table">
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Who</th>
                    <th scope="col">Action</th>
                    <th scope="col">Target</th>
                    <th scope="col">Via</th>
                  </tr>
                </thead>
                <tbody>
                  {load.entries.map((entry) => (
                    <tr key={entry.id} data-testid={`audit-row-${entry.id}`} data-action={entry.action} data-via={entry.via}>
                      <td title={entry.created_at}>{formatDate(entry.created_at)}</td>
                      <td>{entry.actor || <span className="muted">system</span>}</td>
                      <td>
                        <code title={entry.action}>{actionText(entry.action)}</code>
                      </td>
                      <td title={entry.target.id ? `${entry.target.type} ${entry.target.id}` : undefined}>
                        {entry.target.type && <span className="muted">{entry.target.type} </span>}
                        {entry.target.label || entry.target.id}
                      </td>
                      <td>
                        <span className={`chip static${entry.via === 'token' ? ' chip-warn' : ''}`}>{entry.via}</span>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <p className="muted" data-testid="audit-count">
                {load.entries.length} of {load.count}
              </p>
              {moreError && (
                <p className="field-error" role="alert" data-testid="audit-more-error">
                  Could not load more: {moreError}
                </p>
              )}
              {load.more && (
                <button type="button" className="btn btn-secondary" onClick={() => void loadMore()} disabled={load.loadingMore} data-testid="audit-more">
                  {load.loadingMore ? 'Loading…' : 'Load more'}
                </button>
              )}
            </>
          )}
        </>
      )}
    </div>
  );
}
