// Time travel in the run view's reducer: a run made from an earlier one, whose upstream steps
// arrive as step.reused (done at once with an output they did not compute) and whose later
// steps execute as usual; and step.queued, which the live view now follows like the snapshot.

import { describe, expect, it } from 'vitest';
import type { EventDataByType, EventType, RunEvent } from '../api/events';
import type { Graph } from '../api/graph';
import type { RunDetail } from '../api/resources';
import { edgeRunStates } from './edges';
import { applyEvents, fromSnapshot, initialRunView, isStepFinished, nodeStatus } from './reducer';

function script(run = 'run-2') {
  const events: RunEvent[] = [];
  const add = <T extends EventType>(type: T, step: string | null, data: EventDataByType[T], status: string | null = null) => {
    const seq = events.length + 1;
    events.push({ seq, type, run, step, node: step, status, data, ts: 2000 + seq } as RunEvent);
  };
  return { events, add };
}

const chain: Graph = {
  nodes: [
    { id: 'brief', type: 'input', label: 'Brief', position: { x: 0, y: 0 }, config: {} },
    { id: 'research', type: 'worker', label: 'Research', position: { x: 250, y: 0 }, config: {} },
    { id: 'draft', type: 'worker', label: 'Draft', position: { x: 500, y: 0 }, config: {} },
    { id: 'out', type: 'output', label: 'Out', position: { x: 750, y: 0 }, config: {} },
  ],
  edges: [
    { id: 'e1', source: 'brief', target: 'research' },
    { id: 'e2', source: 'research', target: 'draft' },
    { id: 'e3', source: 'draft', target: 'out' },
  ],
};

const reused = (output: unknown, step: string, saved_cost: number, kind: 'recorded' | 'edited' | 'pinned' = 'recorded') => ({
  input: null,
  fingerprint: 'f'.repeat(16),
  output,
  branch: 'out',
  from: { kind, run: kind === 'pinned' ? null : 'run-1', step: kind === 'pinned' ? null : step },
  saved_cost,
  saved_tokens: 120,
});

/** "Re-run from draft": brief and research reused, draft and out execute. */
function rerunFromDraft() {
  const { events, add } = script();
  add('run.started', null, { input: { topic: 'owls' }, version: 1, source: { run: 'run-1', step: 'draft', mode: 'from' } }, 'running');
  add('step.reused', 'brief', reused({ topic: 'owls' }, 'brief', 0), 'reused');
  add('step.reused', 'research', reused('three facts', 'research', 0.004), 'reused');
  add('step.queued', 'draft', { parent: null }, 'queued');
  add('step.started', 'draft', { attempt: 1, input: 'three facts', parent: null, round: 0 }, 'running');
  add('step.succeeded', 'draft', { output: 'a draft', branch: 'out', attempt: 1, model: 'openai/gpt-4o-mini', tokens_in: 50, tokens_out: 20, cost: 0.001, duration_ms: 900, fingerprint: 'abc' }, 'succeeded');
  add('step.queued', 'out', { parent: null }, 'queued');
  add('step.started', 'out', { attempt: 1, input: 'a draft', parent: null, round: 0 }, 'running');
  add('step.succeeded', 'out', { output: 'a draft', branch: 'out', attempt: 1, model: null, tokens_in: 0, tokens_out: 0, cost: 0, duration_ms: 1 }, 'succeeded');
  return events;
}

describe('run reducer: a run made from an earlier one', () => {
  const events = rerunFromDraft();

  it('shows a reused step as finished with its output, costing nothing and taking no time', () => {
    const view = applyEvents(initialRunView('run-2'), events.slice(0, 3));
    const step = view.steps.research;
    expect(step.status).toBe('reused');
    expect(isStepFinished(step)).toBe(true);
    expect(step.output).toBe('three facts');
    expect(step.cost).toBe(0);
    expect(step.tokens_in + step.tokens_out).toBe(0);
    expect(step.duration_ms).toBe(0);
    expect(step.reusedFrom).toEqual({ kind: 'recorded', run: 'run-1', step: 'research' });
    expect(nodeStatus(view, 'research')).toBe('reused');
    expect(view.nodes.research.reusedFrom).toEqual({ kind: 'recorded', run: 'run-1', step: 'research' });
    expect(view.nodes.research.topLevel).toBe(true);
    // the run knows where it came from, from run.started
    expect(view.source).toEqual({ run: 'run-1', step: 'draft', mode: 'from' });
  });

  it('counts reused steps and what they saved in the live totals, apart from what was spent', () => {
    const live = applyEvents(initialRunView('run-2'), events.slice(0, 6));
    expect(live.totals.reused).toBe(2);
    expect(live.totals.reused_cost).toBe(0.004);
    expect(live.totals.cost).toBe(0.001);
    expect(live.totals.tokens_in).toBe(50);
  });

  it('passes data along the edges out of a reused step, as out of a succeeded one', () => {
    const view = applyEvents(initialRunView('run-2'), events.slice(0, 5));
    expect(edgeRunStates(chain, view)).toMatchObject({ e1: 'done', e2: 'active', e3: 'idle' });
    expect(nodeStatus(view, 'draft')).toBe('running');
  });

  it('follows step.queued: a ready step shows as queued before it starts', () => {
    const view = applyEvents(initialRunView('run-2'), events.slice(0, 4));
    expect(view.steps.draft.status).toBe('queued');
    expect(nodeStatus(view, 'draft')).toBe('queued');
    expect(view.order).toEqual(['brief', 'research', 'draft']);
  });

  it('takes a delegated task’s parent from its step.queued event', () => {
    const { events: more, add } = script();
    add('step.queued', 'lead.res.1', { parent: 'lead' }, 'queued');
    const view = applyEvents(initialRunView('run-2'), more);
    expect(view.steps['lead.res.1'].parent).toBe('lead');
  });

  it('shows edited and pinned outputs for what they are', () => {
    const { events: more, add } = script();
    add('run.started', null, { input: {}, source: { run: 'run-1', step: 'research', mode: 'edit' } }, 'running');
    add('step.reused', 'research', reused({ facts: ['typed'] }, 'research', 0, 'edited'), 'reused');
    add('step.reused', 'draft', reused('pinned draft', 'draft', 0, 'pinned'), 'reused');
    const view = applyEvents(initialRunView('run-2'), more);
    expect(view.nodes.research.reusedFrom?.kind).toBe('edited');
    expect(view.nodes.draft.reusedFrom).toEqual({ kind: 'pinned', run: null, step: null });
    expect(view.totals.reused).toBe(2);
    expect(view.totals.reused_cost).toBe(0);
  });

  it('reads the same from the API’s snapshot: source, reused steps and their links', () => {
    const detail = {
      id: 'run-2',
      status: 'running',
      input: { topic: 'owls' },
      output: null,
      error: null,
      last_seq: 3,
      totals: { tokens_in: 0, tokens_out: 0, cost: 0, by_model: {}, reused: 2, reused_cost: 0.004 },
      source: { run: 'run-1', step: 'draft', mode: 'from' },
      reruns: [],
      steps: [
        { id: 'brief', node: 'brief', type: 'input', status: 'reused', parent: null, input: null, output: { topic: 'owls' }, branch: 'out', error: null, attempt: 0, model: null, tokens_in: 0, tokens_out: 0, cost: 0, started_at: 2002, finished_at: 2002, duration_ms: null, reused_from: { kind: 'recorded', run: 'run-1', step: 'brief' } },
        { id: 'research', node: 'research', type: 'worker', status: 'reused', parent: null, input: null, output: 'three facts', branch: 'out', error: null, attempt: 0, model: null, tokens_in: 0, tokens_out: 0, cost: 0, started_at: 2003, finished_at: 2003, duration_ms: null, reused_from: { kind: 'recorded', run: 'run-1', step: 'research' } },
        { id: 'draft', node: 'draft', type: 'worker', status: 'queued', parent: null, input: 'three facts', output: null, branch: null, error: null, attempt: 0, model: null, tokens_in: 0, tokens_out: 0, cost: 0, started_at: null, finished_at: null, duration_ms: null, reused_from: null },
      ],
    } as unknown as RunDetail;
    const snapshot = fromSnapshot(detail);
    expect(snapshot.source).toEqual({ run: 'run-1', step: 'draft', mode: 'from' });
    expect(snapshot.steps.research.reusedFrom).toEqual({ kind: 'recorded', run: 'run-1', step: 'research' });
    expect(nodeStatus(snapshot, 'research')).toBe('reused');
    // the rest of the stream goes on from there, and the saved cost is kept from the snapshot
    const after = applyEvents(snapshot, events.slice(3, 6));
    expect(nodeStatus(after, 'draft')).toBe('succeeded');
    expect(after.totals.reused).toBe(2);
    expect(after.totals.reused_cost).toBe(0.004);
    expect(after.totals.cost).toBe(0.001);
  });
});
