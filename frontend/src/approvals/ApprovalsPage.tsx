// The inbox: every pending approval I may decide, across workflows, kept current by the
// notification socket. A row opens the decision dialog; /approvals/<id> opens one directly.

import { useEffect } from 'react';
import type { Approval } from '../api/approvals';
import { EmptyState, ErrorState, LoadingState } from '../components/ui';
import { Link, paths } from '../router';
import { useApprovals } from './ApprovalsProvider';
import { gateOrigin, relativeTime } from './decision';

export function ApprovalsPage({ approvalId }: { approvalId: string | null }) {
  const { inbox, count, refresh, loadMore, open } = useApprovals();

  useEffect(() => {
    document.title = `${count ? `(${count}) ` : ''}Approvals — Flows`;
  }, [count]);

  // fresh on arrival (the provider's copy may be old)
  useEffect(() => {
    refresh();
  }, [refresh]);

  useEffect(() => {
    if (approvalId) open(approvalId);
  }, [approvalId, open]);

  return (
    <div className="page list-page approvals-page" data-testid="approvals-page">
      <header className="page-head">
        <div>
          <Link to={paths.list()} className="btn btn-ghost btn-small">
            ← Workflows
          </Link>
          <h1>Approvals</h1>
          <p className="muted" data-testid="approvals-count">
            {inbox.status === 'ready' ? (count ? `${count} waiting for you` : 'Nothing waiting for you') : '\u00a0'}
          </p>
        </div>
        <div className="page-actions">
          <button type="button" className="btn btn-secondary" onClick={refresh} data-testid="approvals-refresh">
            Refresh
          </button>
        </div>
      </header>
      {inbox.status === 'error' && inbox.error ? (
        <div data-testid="approvals-error">
          <ErrorState title="Could not load approvals" message={inbox.error} onRetry={refresh} />
        </div>
      ) : inbox.status !== 'ready' ? (
        <LoadingState label="Loading approvals…" />
      ) : inbox.items.length === 0 ? (
        <div data-testid="approvals-empty">
          <EmptyState title="No approvals waiting" icon="✓">
            When a run reaches an approval gate you can decide, it appears here (and you get a notice on any page).
          </EmptyState>
        </div>
      ) : (
        <>
          <ul className="approval-list" data-testid="approval-list">
            {inbox.items.map((approval) => (
              <ApprovalRow key={approval.id} approval={approval} onOpen={() => open(approval)} />
            ))}
          </ul>
          {inbox.next && (
            <div className="load-more">
              <button type="button" className="btn btn-secondary" onClick={() => void loadMore()} data-testid="approvals-more">
                Load more
              </button>
            </div>
          )}
        </>
      )}
    </div>
  );
}

function ApprovalRow({ approval, onOpen }: { approval: Approval; onOpen: () => void }) {
  const overdue = approval.deadline ? Date.parse(approval.deadline) < Date.now() : false;
  const origin = gateOrigin(approval.step, approval.flow_label);
  return (
    <li>
      <button type="button" className="approval-row" onClick={onOpen} data-testid={`approval-${approval.id}`}>
        <span className="approval-row-main">
          <span className="approval-row-title">
            <strong>{approval.workflow?.name ?? 'Workflow'}</strong>
            <span className="muted"> — {approval.node_label || approval.node}</span>
            {origin && (
              <span className="muted small approval-origin" data-testid={`approval-origin-${approval.id}`} title={`Step ${approval.step} of its run`}>
                {' '}
                · {origin}
              </span>
            )}
          </span>
          <span className="approval-row-prompt">{(approval.prompt || 'Approve?').replace(/\s+/g, ' ').slice(0, 160)}</span>
        </span>
        <span className="approval-row-meta small muted">
          <span title={new Date(approval.created_at).toLocaleString()}>{waitingSince(approval.created_at)}</span>
          {approval.quorum > 1 && <span>{`${approval.approvals ?? 0} of ${approval.quorum} approvals`}</span>}
          {approval.deadline && (
            <span className={overdue ? 'approval-overdue' : undefined} title={new Date(approval.deadline).toLocaleString()}>
              deadline {relativeTime(approval.deadline)}
            </span>
          )}
        </span>
      </button>
    </li>
  );
}

function waitingSince(createdAt: string): string {
  const text = relativeTime(createdAt);
  if (!text || text === 'now' || text.startsWith('in ')) return 'just arrived';
  return `waiting ${text.replace(/ ago$/, '')}`;
}
