// Words and checks of time travel, kept pure for the tests: what a re-run's preview says, whether
// an edited output is JSON, and how a run made from another one names where it came from.

import { SUCCEEDED_STEP_STATUSES } from '../api/events';
import type { RerunMode, RerunPreview, ReusedFrom } from '../api/timeTravel';
import { formatCost } from './format';
import type { RunView } from './reducer';

/** Step statuses a run can be re-run from (finished, and something ran or was reused there). */
const RERUNNABLE: ReadonlySet<string> = new Set(['succeeded', 'reused', 'failed', 'cancelled']);

/** How deep in the delegation tree a new run can start: a top-level step (0) or a task it
 * delegated (1: a manager's subtask, a conversation turn), not a task of a task. */
const MAX_RERUN_DEPTH = 1;

/** A finished step, not skipped, a top-level one or its delegated task: a new run can start there. */
export function canRerunFrom(step: { status: string } | undefined, depth = 0): boolean {
  return !!step && depth <= MAX_RERUN_DEPTH && RERUNNABLE.has(step.status);
}

/** A step that succeeded (or was reused), top-level or a delegated task: its output can be
 * edited and the run go on from there. */
export function canEditOutput(step: { status: string } | undefined, depth = 0): boolean {
  return !!step && depth <= MAX_RERUN_DEPTH && SUCCEEDED_STEP_STATUSES.has(step.status);
}

export function canRetry(view: Pick<RunView, 'status'>): boolean {
  return view.status === 'failed' || view.status === 'cancelled';
}

function steps(n: number): string {
  return `${n} step${n === 1 ? '' : 's'}`;
}

/** "This re-executes 4 steps (about $0.03 at catalogue prices) and reuses 9." and what else the
 * preview says: steps skipped, what reusing saves, steps whose cost cannot be estimated. */
export function previewText(preview: RerunPreview): string {
  const parts: string[] = [];
  const { execute, reuse, skip } = preview;
  const unpriced = preview.not_estimated.length;
  if (execute === 0) {
    parts.push(`This re-executes nothing and reuses ${steps(reuse)}.`);
  } else {
    let cost: string;
    if (preview.estimated_cost > 0) cost = `about ${formatCost(preview.estimated_cost)} at catalogue prices`;
    else if (unpriced === execute) cost = 'cost not known in advance';
    else cost = `${execute === 1 ? 'it' : 'they'} cost nothing last time`;
    parts.push(`This re-executes ${steps(execute)} (${cost}) and reuses ${reuse}.`);
  }
  if (skip > 0) parts.push(`${steps(skip)} stay${skip === 1 ? 's' : ''} skipped.`);
  if (preview.reused_cost > 0) parts.push(`Reusing saves about ${formatCost(preview.reused_cost)}.`);
  if (unpriced > 0 && unpriced < execute) {
    parts.push(`${steps(unpriced)} never ran before, so ${unpriced === 1 ? 'its' : 'their'} cost is not in the estimate.`);
  }
  return parts.join(' ');
}

export type Parsed = { ok: true; value: unknown } | { ok: false; message: string };

/** An edited output typed as JSON: its value, or why it is not JSON (with where, when the
 * browser says). Empty text is refused: `null` is how to say "no output". */
export function parseEditedOutput(text: string): Parsed {
  if (!text.trim()) return { ok: false, message: 'Type a JSON value (null for no output).' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return { ok: false, message: `Not valid JSON: ${detail}` };
  }
}

/** The text an output is edited as: a string as itself (in text mode), anything else as JSON. */
export function editableText(output: unknown, mode: 'json' | 'text'): string {
  if (mode === 'text') return typeof output === 'string' ? output : output === null || output === undefined ? '' : JSON.stringify(output, null, 2);
  return JSON.stringify(output === undefined ? null : output, null, 2);
}

/** A run's id as people read it: its first 8 characters. */
export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : '—';
}

export const MODE_TITLE: Record<RerunMode, string> = {
  from: 'Re-run from here',
  edit: 'Edit output and continue',
  retry: 'Retry the run',
};

/** How a run made from another names its origin, before the source run's link. */
export function sourcePrefix(mode: string): string {
  switch (mode) {
    case 'edit':
      return 'Continues from an edited output of run';
    case 'retry':
      return 'Retry of run';
    case 'pinned':
      return 'Test run with pinned data';
    default:
      return 'Re-run of run';
  }
}

/** A reused step's label: where its output came from. */
export function reusedLabel(from: ReusedFrom | null | undefined): string {
  switch (from?.kind) {
    case 'edited':
      return 'edited';
    case 'pinned':
      return 'pinned';
    default:
      return 'reused';
  }
}

export function modeLabel(mode: string): string {
  switch (mode) {
    case 'edit':
      return 'edited';
    case 'retry':
      return 'retry';
    case 'pinned':
      return 'pinned data';
    default:
      return 're-run';
  }
}
