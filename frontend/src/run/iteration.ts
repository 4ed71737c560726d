// Iteration in the run view: a map's items and a loop's iterations are the child steps of its
// step (keys `<map>.<body>.<n>`), handed out by step.delegated events. Here they are counted
// for the card's progress ("37 / 100 · 2 failed", "iteration 3 / at most 10") and the item list.
//
// On the server a map starts as many items as its concurrency allows (a step.queued each) and
// keeps the rest pending with no event until a place frees; its step.delegated event lists the
// first 1,000 items and counts all of them. So the total comes from that count, and items the
// view has heard nothing of are pending.

import { SUCCEEDED_STEP_STATUSES } from '../api/events';
import type { StepView } from './reducer';

/** Node types whose body (the one node wired by a delegate edge) runs once per item or iteration. */
export const ITERATION_TYPES: ReadonlySet<string> = new Set(['map', 'loop']);

export interface Progress {
  /** items handed out: the delegated events' count, or the child steps known if more */
  total: number;
  /** finished one way or another: succeeded (or reused), failed, cancelled or skipped */
  finished: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  skipped: number;
  running: number;
  waiting: number;
  queued: number;
  /** not started and not queued: waiting for a free place (no event yet) */
  pending: number;
}

export const NO_PROGRESS: Progress = {
  total: 0,
  finished: 0,
  succeeded: 0,
  failed: 0,
  cancelled: 0,
  skipped: 0,
  running: 0,
  waiting: 0,
  queued: 0,
  pending: 0,
};

/** The progress of a step's child steps (a map's items, a loop's iterations, a manager's tasks). */
export function progressOf(steps: Readonly<Record<string, StepView>>, parent: StepView): Progress {
  const p: Progress = { ...NO_PROGRESS };
  for (const id of parent.children) {
    const status = steps[id]?.status ?? 'pending';
    if (SUCCEEDED_STEP_STATUSES.has(status)) p.succeeded += 1;
    else if (status === 'failed') p.failed += 1;
    else if (status === 'cancelled') p.cancelled += 1;
    else if (status === 'skipped') p.skipped += 1;
    else if (status === 'running') p.running += 1;
    else if (status === 'waiting') p.waiting += 1;
    else if (status === 'queued') p.queued += 1;
  }
  p.total = Math.max(parent.expected, parent.children.length);
  p.finished = p.succeeded + p.failed + p.cancelled + p.skipped;
  p.pending = p.total - p.finished - p.running - p.waiting - p.queued;
  return p;
}

export function sameProgress(a: Progress | null, b: Progress | null): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return (
    a.total === b.total &&
    a.succeeded === b.succeeded &&
    a.failed === b.failed &&
    a.cancelled === b.cancelled &&
    a.skipped === b.skipped &&
    a.running === b.running &&
    a.waiting === b.waiting &&
    a.queued === b.queued
  );
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** A map's progress as its card shows it: "37 / 100 · 2 failed". */
export function progressText(p: Progress): string {
  const parts = [`${count(p.finished)} / ${count(p.total)}`];
  if (p.failed) parts.push(`${count(p.failed)} failed`);
  if (p.cancelled) parts.push(`${count(p.cancelled)} cancelled`);
  if (p.waiting) parts.push(`${count(p.waiting)} waiting`);
  return parts.join(' · ');
}

/** A loop's progress: "iteration 3 / at most 10". */
export function loopText(p: Progress, max: unknown): string {
  const limit = typeof max === 'number' && max > 0 ? ` / at most ${max}` : '';
  return `iteration ${count(p.total)}${limit}`;
}

/** What the items are called under a node of this type. */
export function childrenTitle(type: string | null | undefined): string {
  if (type === 'map') return 'Items';
  if (type === 'loop') return 'Iterations';
  if (type === 'subflow') return 'Steps of the sub-flow';
  // a worker's children are the workflows it called as tools (each runs its steps under it)
  if (type === 'worker') return 'Workflows called as tools';
  return 'Delegated tasks';
}

/** The item number of a child step: the last part of its key (`each.body.7` → 7), else null. */
export function itemNumber(stepId: string): number | null {
  const match = /\.(\d+)$/.exec(stepId);
  return match ? Number(match[1]) : null;
}

/** Child step ids in item order (a snapshot lists them in the order they started). */
export function inItemOrder(ids: readonly string[]): string[] {
  const numbered = ids.map((id, index) => ({ id, index, n: itemNumber(id) }));
  numbered.sort((a, b) => (a.n !== null && b.n !== null && a.n !== b.n ? a.n - b.n : a.index - b.index));
  return numbered.map((x) => x.id);
}

/** A one-line preview of a value: its text, or compact JSON, cut at `max` characters. */
export function preview(value: unknown, max = 80): string {
  if (value === null || value === undefined || value === '') return '';
  let text: string;
  if (typeof value === 'string') text = value;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
