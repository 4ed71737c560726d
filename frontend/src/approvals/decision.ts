// The decision dialog's logic, kept pure for tests: how the data to judge is shown and edited,
// whether an edit is valid, what a refusal from the server means, the quorum's progress.

import { ApiError, errorMessage } from '../api/client';
import type { Approval, ApprovalDecision } from '../api/approvals';

/** Text data is edited as text; anything else (objects, lists, numbers…) as JSON. */
export function isJsonData(data: unknown): boolean {
  return typeof data !== 'string';
}

export function dataText(data: unknown): string {
  if (typeof data === 'string') return data;
  if (data === undefined) return 'null';
  try {
    return JSON.stringify(data, null, 2);
  } catch {
    return String(data);
  }
}

export type ParsedOutput = { ok: true; value: unknown } | { ok: false; error: string };

/** The edited data as it will be sent: parsed when the original was JSON. */
export function parseEditedOutput(text: string, json: boolean): ParsedOutput {
  if (!json) return { ok: true, value: text };
  if (!text.trim()) return { ok: false, error: 'Enter JSON (e.g. {} or null).' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: `Not valid JSON: ${(error as Error).message}` };
  }
}

/** Whether the edit changed anything (formatting of JSON aside). */
export function outputChanged(original: unknown, parsed: ParsedOutput): boolean {
  if (!parsed.ok) return true;
  if (typeof original === 'string' || typeof parsed.value === 'string') return original !== parsed.value;
  return JSON.stringify(original ?? null) !== JSON.stringify(parsed.value);
}

export interface DecisionProblem {
  title: string;
  message: string;
  /** the approval can no longer be decided here: disable the buttons */
  final: boolean;
}

export function decisionProblem(error: unknown): DecisionProblem {
  if (error instanceof ApiError) {
    if (error.status === 409) {
      return { title: 'Someone already decided', message: server(error, 'This approval was decided before your decision arrived.'), final: true };
    }
    if (error.needsLogin) return { title: 'You are signed out', message: 'Sign in again, then decide.', final: true };
    if (error.status === 403) {
      return { title: 'You may not decide this approval', message: server(error, 'You are not one of its approvers.'), final: true };
    }
    if (error.status === 404) return { title: 'No such approval', message: 'It may have been removed.', final: true };
    if (error.status === 400) {
      const field = error.fieldMessage('output') ?? error.fieldMessage('comment') ?? error.fieldMessage('decision');
      return { title: 'Not accepted', message: field ?? error.message, final: false };
    }
  }
  return { title: 'Could not send the decision', message: errorMessage(error), final: false };
}

function server(error: ApiError, fallback: string): string {
  // the generic text the client makes up for a bare status is less useful than ours
  return error.code.startsWith('http_') ? fallback : error.message || fallback;
}

export function quorumText(approval: Pick<Approval, 'approvals' | 'quorum'>): string {
  const quorum = Math.max(1, approval.quorum || 1);
  return `${Math.min(approval.approvals ?? 0, quorum)} of ${quorum}`;
}

export function decisionVerb(decision: ApprovalDecision['decision']): string {
  if (decision === 'approve' || decision === 'approved') return 'approved';
  if (decision === 'reject' || decision === 'rejected') return 'rejected';
  return String(decision);
}

/** "in 5 min", "2 h ago"; empty when there is no deadline. */
export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const diff = Math.round((at - now) / 1000);
  const abs = Math.abs(diff);
  const text =
    abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : abs < 86400 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`;
  if (abs < 5) return 'now';
  return diff > 0 ? `in ${text}` : `${text} ago`;
}

export function statusLabel(status: Approval['status']): string {
  return { pending: 'Pending', approved: 'Approved', rejected: 'Rejected', expired: 'Expired' }[status] ?? status;
}

/**
 * Where in its run a gate asked, from its step's key: inside a sub-flow (`check/gate`: "in
 * sub-flow Check facts", by the sub-flow step's label when the approval carries it, else its key),
 * as an item of a map or loop or a manager's task (`each.ask.2`: "#2 of each"), or both
 * (`each.sub.2/check/gate`). Null for a gate of the run's own flow.
 */
export function gateOrigin(step: string | null | undefined, flowLabel?: string | null): string | null {
  if (!step) return null;
  const parts: string[] = [];
  const at = step.lastIndexOf('/');
  if (at > 0) parts.push(`in sub-flow ${flowLabel || step.slice(0, at)}`);
  const item = /^(.+)\.[^./]+\.(\d+)$/.exec(step.slice(at + 1));
  if (item) parts.push(`#${item[2]} of ${item[1]}`);
  return parts.length ? parts.join(' · ') : null;
}
