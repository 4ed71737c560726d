// The decision dialog: what the gate asks, the data to judge (editable when the gate allows),
// a comment, Approve / Reject, the decisions so far and the quorum's progress. Used by the inbox,
// the notification toasts and the canvas's Decide button.

import { useEffect, useMemo, useState } from 'react';
import { approvalsApi, type Approval, type DecisionKind } from '../api/approvals';
import { Modal } from '../components/Modal';
import { paths } from '../router';
import { LoadingState } from '../components/ui';
import {
  dataText,
  decisionProblem,
  decisionVerb,
  isJsonData,
  outputChanged,
  parseEditedOutput,
  gateOrigin,
  quorumText,
  relativeTime,
  statusLabel,
  type DecisionProblem,
} from './decision';

export interface DecisionDialogProps {
  open: boolean;
  approval: Approval | null;
  /** loading the approval (opened by id) */
  loading?: boolean;
  loadError?: string | null;
  onClose: () => void;
  /** the server's answer to my decision */
  onDecided: (approval: Approval) => void;
  /** fetch the approval again (after a 409, to show who decided) */
  onRefresh?: () => void;
  /** a seam for tests */
  decide?: (id: string, body: { decision: DecisionKind; comment?: string; output?: unknown }) => Promise<Approval>;
}

export function DecisionDialog({ open, approval, loading, loadError, onClose, onDecided, onRefresh, decide = approvalsApi.decide }: DecisionDialogProps) {
  const [comment, setComment] = useState('');
  const [outputText, setOutputText] = useState('');
  const [problem, setProblem] = useState<DecisionProblem | null>(null);
  const [busy, setBusy] = useState<DecisionKind | null>(null);
  const approvalId = approval?.id ?? null;
  const json = isJsonData(approval?.data);

  // a new approval: start afresh (a refresh of the same one keeps what was typed)
  useEffect(() => {
    setComment('');
    setOutputText(dataText(approval?.data));
    setProblem(null);
    setBusy(null);
    // only when another approval is shown
  }, [approvalId, open]);

  const parsed = useMemo(() => parseEditedOutput(outputText, json), [outputText, json]);
  const decidable = !!approval && approval.status === 'pending' && approval.can_decide !== false && !problem?.final;
  const editing = decidable && !!approval?.editable;

  const send = async (decision: DecisionKind) => {
    if (!approval || busy) return;
    const body: { decision: DecisionKind; comment?: string; output?: unknown } = { decision };
    if (comment.trim()) body.comment = comment.trim();
    if (editing && decision === 'approve') {
      if (!parsed.ok) return;
      if (outputChanged(approval.data, parsed)) body.output = parsed.value;
    }
    setBusy(decision);
    setProblem(null);
    try {
      const result = await decide(String(approval.id), body);
      onDecided(result);
    } catch (error) {
      const found = decisionProblem(error);
      setProblem(found);
      if (found.final) onRefresh?.();
    } finally {
      setBusy(null);
    }
  };

  const origin = gateOrigin(approval?.step, approval?.flow_label);
  const title = approval
    ? `${approval.workflow?.name ?? 'Approval'} — ${approval.node_label || approval.node}${origin ? ` (${origin})` : ''}`
    : 'Approval';
  const footer = (
    <>
      <span className="spacer" />
      <button type="button" className="btn btn-secondary" onClick={onClose}>
        {decidable ? 'Later' : 'Close'}
      </button>
      {approval && approval.status === 'pending' && (
        <>
          <button
            type="button"
            className="btn btn-danger"
            data-testid="reject"
            disabled={!decidable || busy !== null}
            onClick={() => void send('reject')}
          >
            {busy === 'reject' ? 'Rejecting…' : 'Reject'}
          </button>
          <button
            type="button"
            className="btn btn-primary"
            data-testid="approve"
            disabled={!decidable || busy !== null || (editing && !parsed.ok)}
            onClick={() => void send('approve')}
          >
            {busy === 'approve' ? 'Approving…' : 'Approve'}
          </button>
        </>
      )}
    </>
  );

  return (
    <Modal title={title} open={open} onClose={onClose} wide testId="decision-dialog" footer={footer}>
      {loading && !approval && <LoadingState label="Loading the approval…" />}
      {loadError && !approval && (
        <div className="banner banner-error" role="alert" data-testid="decision-load-error">
          {loadError}
        </div>
      )}
      {approval && (
        <div className="decision" data-status={approval.status}>
          {approval.status !== 'pending' && (
            <div className={`banner ${approval.status === 'approved' ? 'banner-success' : 'banner-info'}`} data-testid="decision-status">
              {statusLabel(approval.status)}
              {approval.decided_at ? ` ${relativeTime(approval.decided_at)}` : ''}.
            </div>
          )}
          {approval.status === 'pending' && approval.can_decide === false && !problem && (
            <div className="banner banner-info" data-testid="decision-readonly">
              You cannot decide this approval
              {approval.decisions?.length ? ' (you may have decided already)' : ''}.
            </div>
          )}
          {problem && (
            <div className="banner banner-error" role="alert" data-testid="decision-error">
              <strong>{problem.title}.</strong> {problem.message}
            </div>
          )}
          <p className="decision-prompt" data-testid="decision-prompt">
            {approval.prompt || 'Approve?'}
          </p>
          <dl className="facts decision-facts">
            {approval.workflow?.id && approval.run && (
              <>
                <dt>Run</dt>
                <dd>
                  {/* what led here: the run, its earlier steps and the data the gate holds */}
                  <a href={paths.run(String(approval.workflow.id), String(approval.run))} data-testid="decision-run-link">
                    Open the run of {approval.workflow.name}
                  </a>
                </dd>
              </>
            )}
            <dt>Approvals</dt>
            <dd data-testid="decision-quorum">{quorumText(approval)}</dd>
            {approval.deadline && (
              <>
                <dt>Deadline</dt>
                <dd title={new Date(approval.deadline).toLocaleString()}>{relativeTime(approval.deadline)}</dd>
              </>
            )}
            {(approval.approvers?.length > 0 || approval.role) && (
              <>
                <dt>Who decides</dt>
                <dd>
                  {[...(approval.approvers ?? []), ...(approval.role ? [`role “${approval.role}”`] : [])].join(', ')}
                </dd>
              </>
            )}
            <dt>Waiting since</dt>
            <dd>{relativeTime(approval.created_at)}</dd>
          </dl>
          <section className="detail-block">
            <h4>
              {editing ? (
                <label htmlFor="decision-output">Data (you may edit it{json ? ', as JSON' : ''})</label>
              ) : (
                'Data'
              )}
            </h4>
            {editing ? (
              <>
                <textarea
                  id="decision-output"
                  className="input mono decision-output"
                  data-testid="decision-output"
                  rows={Math.min(16, Math.max(4, outputText.split('\n').length + 1))}
                  spellCheck={false}
                  value={outputText}
                  aria-invalid={!parsed.ok || undefined}
                  aria-describedby={parsed.ok ? undefined : 'decision-output-error'}
                  onChange={(e) => setOutputText(e.target.value)}
                />
                {!parsed.ok && (
                  <p className="field-error" role="alert" id="decision-output-error" data-testid="decision-output-error">
                    {parsed.error}
                  </p>
                )}
              </>
            ) : (
              <pre className="code-block" data-testid="decision-data">
                {dataText(approval.data)}
              </pre>
            )}
          </section>
          {approval.decisions?.length > 0 && (
            <section className="detail-block">
              <h4>Decisions so far</h4>
              <ul className="decision-list" data-testid="decision-decisions">
                {approval.decisions.map((d, i) => (
                  <li key={i} className={`decision-item decision-${decisionVerb(d.decision)}`}>
                    <strong>{d.user}</strong> {decisionVerb(d.decision)}
                    <span className="muted small"> · {relativeTime(d.created_at)}</span>
                    {d.comment && <div className="decision-comment-text">“{d.comment}”</div>}
                  </li>
                ))}
              </ul>
            </section>
          )}
          {decidable && (
            <section className="detail-block">
              <h4>
                <label htmlFor="decision-comment">Comment (optional)</label>
              </h4>
              <textarea
                id="decision-comment"
                className="input decision-comment"
                data-testid="decision-comment"
                rows={2}
                value={comment}
                onChange={(e) => setComment(e.target.value)}
              />
            </section>
          )}
        </div>
      )}
    </Modal>
  );
}
