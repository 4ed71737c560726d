// A map's progress as the run view counts it from the server's events: items beyond the
// concurrency limit wait as pending (no event) until step.queued, a failure under "stop" cancels
// the items not started, and a map of more items than the 1,000 its step.delegated event lists
// takes its total from the event's count.

import { describe, expect, it } from 'vitest';
import type { EventDataByType, EventType, RunEvent } from '../api/events';
import type { RunDetail, StepRecord } from '../api/resources';
import { researchRun } from '../test/fixtures';
import { inItemOrder, itemNumber, loopText, preview, progressOf, progressText, type Progress } from './iteration';
import { applyEvent, applyEvents, fromSnapshot, initialRunView, type RunView } from './reducer';

/** Events numbered the way the server numbers them. */
function script() {
  const events: RunEvent[] = [];
  const add = <T extends EventType>(type: T, step: string | null, data: EventDataByType[T], status: string | null, node: string | null) => {
    events.push({ seq: events.length + 1, type, run: 'run-1', step, node, status, data, ts: 1000 + events.length } as RunEvent);
  };
  return { events, add };
}

const key = (n: number) => `each.body.${n}`;
const done = (output: unknown, cost = 0.001) => ({
  output,
  branch: 'out',
  attempt: 1,
  model: 'local/echo',
  tokens_in: 3,
  tokens_out: 2,
  cost,
  duration_ms: 40,
});

/** A map step handing out `count` items as the server does: the first `concurrency` queued
 * (each with a step.queued, before the delegation), the rest pending; the event lists at most
 * 1,000 items and counts all. */
function mapStart(count: number, concurrency: number) {
  const s = script();
  s.add('run.started', null, { input: {} }, 'running', null);
  s.add('step.started', 'each', { attempt: 1, input: [], parent: null, round: 0 }, 'running', 'each');
  for (let n = 1; n <= Math.min(concurrency, count); n++) s.add('step.queued', key(n), { parent: 'each' }, 'queued', 'body');
  const listed = Array.from({ length: Math.min(count, 1000) }, (_, i) => ({ step: key(i + 1), node: 'body' }));
  s.add('step.delegated', 'each', { round: 0, tasks: listed, count, state: null }, 'waiting', 'each');
  return s;
}

function progress(view: RunView, id = 'each'): Progress {
  return progressOf(view.steps, view.steps[id]);
}

describe('a map’s progress, counted from its items’ events', () => {
  it('counts items beyond the concurrency limit as pending until their step.queued', () => {
    const { events, add } = mapStart(5, 2);
    let view = applyEvents(initialRunView('run-1'), events);
    expect(progress(view)).toMatchObject({ total: 5, finished: 0, queued: 2, pending: 3, running: 0 });
    expect(view.steps[key(3)].status).toBe('pending');
    expect(view.nodes.each.progress).toMatchObject({ total: 5, pending: 3 });
    expect(progressText(progress(view))).toBe('0 / 5');

    add('step.started', key(1), { attempt: 1, input: 'a', parent: 'each', round: 0 }, 'running', 'body');
    add('step.succeeded', key(1), done('A'), 'succeeded', 'body');
    add('step.queued', key(3), { parent: 'each' }, 'queued', 'body');
    view = applyEvents(view, events.slice(-3));
    expect(progress(view)).toMatchObject({ total: 5, finished: 1, succeeded: 1, queued: 2, pending: 2 });
    expect(view.steps[key(3)].status).toBe('queued');
    expect(progressText(progress(view))).toBe('1 / 5');
  });

  it('reaches n / n with the failed items named, and totals every item’s cost', () => {
    const { events, add } = mapStart(4, 2);
    let next = 3;
    for (let n = 1; n <= 4; n++) {
      add('step.started', key(n), { attempt: 1, input: n, parent: 'each', round: 0 }, 'running', 'body');
      if (n === 2) add('step.failed', key(n), { error: { code: 'template_error', message: 'no first of 2' }, attempt: 1 }, 'failed', 'body');
      else add('step.succeeded', key(n), done(n), 'succeeded', 'body');
      if (next <= 4) add('step.queued', key(next++), { parent: 'each' }, 'queued', 'body');
    }
    const view = applyEvents(initialRunView('run-1'), events);
    expect(progress(view)).toMatchObject({ total: 4, finished: 4, succeeded: 3, failed: 1, pending: 0, queued: 0 });
    expect(progressText(progress(view))).toBe('4 / 4 · 1 failed');
    expect(view.nodes.each.subtree.cost).toBe(0.003);
    expect(view.totals.cost).toBe(0.003);
  });

  it('counts items cancelled under "stop" as finished, not pending', () => {
    // one at a time: item 2 fails, items 3 to 5 never start and are cancelled
    const { events, add } = mapStart(5, 1);
    add('step.started', key(1), { attempt: 1, input: 'a', parent: 'each', round: 0 }, 'running', 'body');
    add('step.succeeded', key(1), done('A'), 'succeeded', 'body');
    add('step.queued', key(2), { parent: 'each' }, 'queued', 'body');
    add('step.started', key(2), { attempt: 1, input: 1, parent: 'each', round: 0 }, 'running', 'body');
    add('step.failed', key(2), { error: { message: 'no first of 1' }, attempt: 1 }, 'failed', 'body');
    for (const n of [3, 4, 5]) add('step.cancelled', key(n), { reason: 'an earlier task failed' }, 'cancelled', 'body');
    add('step.resumed', 'each', { round: 1 }, 'queued', 'each');
    add('step.started', 'each', { attempt: 1, input: [], parent: null, round: 1 }, 'running', 'each');
    add('step.failed', 'each', { error: { message: 'item 2 of 5 failed (each.body.2): no first of 1' }, attempt: 1 }, 'failed', 'each');
    const view = applyEvents(initialRunView('run-1'), events);
    expect(progress(view)).toMatchObject({ total: 5, finished: 5, succeeded: 1, failed: 1, cancelled: 3, pending: 0 });
    expect(progressText(progress(view))).toBe('5 / 5 · 1 failed · 3 cancelled');
    expect(view.nodes.each.status).toBe('failed');
  });

  it('takes the total from the delegated event’s count when it lists only the first 1,000 items', () => {
    const { events, add } = mapStart(2500, 4);
    let view = applyEvents(initialRunView('run-1'), events);
    expect(view.steps.each.children).toHaveLength(1000);
    expect(progress(view)).toMatchObject({ total: 2500, queued: 4, pending: 2496 });
    // items past the listed ones become known when their turn comes
    for (let n = 1001; n <= 1003; n++) add('step.queued', key(n), { parent: 'each' }, 'queued', 'body');
    add('step.started', key(1001), { attempt: 1, input: 1001, parent: 'each', round: 0 }, 'running', 'body');
    add('step.succeeded', key(1001), done(1001), 'succeeded', 'body');
    view = applyEvents(view, events.slice(-5));
    expect(view.steps.each.children).toHaveLength(1003);
    expect(view.steps[key(1001)].parent).toBe('each');
    expect(progress(view)).toMatchObject({ total: 2500, finished: 1, queued: 6, pending: 2493 });
    expect(progressText(progress(view))).toBe('1 / 2,500');
  });

  it('counts items past the listed ones that are cancelled before their turn (no event named their parent)', () => {
    const { events, add } = mapStart(1200, 2);
    add('step.started', key(1), { attempt: 1, input: 1, parent: 'each', round: 0 }, 'running', 'body');
    add('step.succeeded', key(1), done(1), 'succeeded', 'body');
    add('step.queued', key(3), { parent: 'each' }, 'queued', 'body');
    // the run is cancelled: every open item gets a step.cancelled, the unlisted ones included
    for (let n = 2; n <= 1200; n++) add('step.cancelled', key(n), {}, 'cancelled', 'body');
    add('run.cancelled', null, {}, 'cancelled', null);
    const view = applyEvents(initialRunView('run-1'), events);
    expect(view.steps[key(1100)].parent).toBe('each');
    expect(view.steps.each.children).toHaveLength(1200);
    expect(progress(view)).toMatchObject({ total: 1200, finished: 1200, succeeded: 1, cancelled: 1199, pending: 0 });
    expect(progressText(progress(view))).toBe('1,200 / 1,200 · 1,199 cancelled');
    // a step whose key only looks like a task's keeps no parent it does not have
    const other = applyEvent(view, { seq: 9999, type: 'step.cancelled', run: 'run-1', step: 'nobody.body.3', node: 'body', status: 'cancelled', data: {}, ts: 1 });
    expect(other.steps['nobody.body.3'].parent).toBeNull();
  });

  it('counts a snapshot’s child steps, pending ones included, then goes on from its events', () => {
    const record = (id: string, status: StepRecord['status'], parent: string | null = 'each'): StepRecord =>
      ({ id, node: parent ? 'body' : 'each', type: parent ? 'transform' : 'map', status, parent, input: null, output: null }) as StepRecord;
    const detail = {
      id: 'run-1',
      status: 'running',
      last_seq: 40,
      steps: [record('each', 'waiting', null), record(key(1), 'succeeded'), record(key(2), 'running'), record(key(3), 'pending'), record(key(4), 'pending')],
    } as unknown as RunDetail;
    let view = fromSnapshot(detail);
    expect(progress(view)).toMatchObject({ total: 4, finished: 1, running: 1, pending: 2 });
    view = applyEvent(view, { seq: 41, type: 'step.queued', run: 'run-1', step: key(3), node: 'body', status: 'queued', data: { parent: 'each' }, ts: 2000 });
    expect(progress(view)).toMatchObject({ total: 4, queued: 1, pending: 1 });
  });

  it('says the iteration of a loop and its limit', () => {
    const { events, add } = script();
    add('step.started', 'again', { attempt: 1, input: 'a', parent: null, round: 0 }, 'running', 'again');
    for (let round = 0; round < 3; round++) {
      const n = round + 1;
      add('step.queued', `again.grow.${n}`, { parent: 'again' }, 'queued', 'grow');
      add('step.delegated', 'again', { round, tasks: [{ step: `again.grow.${n}`, node: 'grow' }], count: 1, state: { iteration: n } }, 'waiting', 'again');
      add('step.started', `again.grow.${n}`, { attempt: 1, input: 'a', parent: 'again', round: 0 }, 'running', 'grow');
      add('step.succeeded', `again.grow.${n}`, done(`a${'x'.repeat(n)}`), 'succeeded', 'grow');
      add('step.resumed', 'again', { round: round + 1 }, 'queued', 'again');
    }
    const view = applyEvents(initialRunView('run-1'), events);
    expect(progress(view, 'again')).toMatchObject({ total: 3, finished: 3 });
    expect(loopText(progress(view, 'again'), 10)).toBe('iteration 3 / at most 10');
    expect(view.nodes.again.children.map((c) => c.step)).toEqual(['again.grow.1', 'again.grow.2', 'again.grow.3']);
  });

  it('keeps the in-process engine’s delegations (no count, no step.queued) as queued tasks', () => {
    const { events, add } = script();
    add('step.started', 'lead', { attempt: 1, input: 'x', parent: null, round: 0 }, 'running', 'lead');
    add('step.delegated', 'lead', { tasks: [{ step: 'lead.res.1', node: 'res' }] }, 'running', 'lead');
    const view = applyEvents(initialRunView('run-1'), events);
    expect(view.steps['lead.res.1'].status).toBe('queued');
    expect(progress(view, 'lead')).toMatchObject({ total: 1, queued: 1, pending: 0 });
  });
});

describe('applying events in batches', () => {
  function bigMap(count: number) {
    const { events, add } = mapStart(count, 3);
    let next = 4;
    for (let n = 1; n <= count; n++) {
      add('step.started', key(n), { attempt: 1, input: n, parent: 'each', round: 0 }, 'running', 'body');
      if (n % 7 === 0) add('step.failed', key(n), { error: { message: 'odd one' }, attempt: 1 }, 'failed', 'body');
      else add('step.succeeded', key(n), done(n), 'succeeded', 'body');
      if (next <= count) add('step.queued', key(next++), { parent: 'each' }, 'queued', 'body');
    }
    return events;
  }

  it('gives the view that applying them one by one gives', () => {
    for (const events of [researchRun, bigMap(300)]) {
      let single = initialRunView(null);
      for (const event of events) single = applyEvent(single, event);
      let batched = initialRunView(null);
      for (let i = 0; i < events.length; i += 37) batched = applyEvents(batched, events.slice(i, i + 37));
      expect(batched).toEqual(single);
      expect(applyEvents(initialRunView(null), events)).toEqual(single);
    }
  });

  it('takes a map of 1,200 items in moments, not seconds', () => {
    const events = bigMap(1200);
    const started = performance.now();
    let view = initialRunView('run-1');
    for (let i = 0; i < events.length; i += 20) view = applyEvents(view, events.slice(i, i + 20));
    expect(performance.now() - started).toBeLessThan(1500); // was 4 s when every event copied everything
    expect(progressText(progress(view))).toBe('1,200 / 1,200 · 171 failed');
  });

  it('leaves the view as it was when no event applies', () => {
    const view = applyEvents(initialRunView('run-1'), researchRun);
    expect(applyEvents(view, researchRun.slice(0, 5))).toBe(view);
  });
});

describe('item helpers', () => {
  it('reads item numbers from step keys and sorts by them', () => {
    expect(itemNumber('each.body.12')).toBe(12);
    expect(itemNumber('brief')).toBeNull();
    expect(inItemOrder(['each.body.10', 'each.body.2', 'each.body.1'])).toEqual(['each.body.1', 'each.body.2', 'each.body.10']);
  });

  it('previews values on one line', () => {
    expect(preview({ name: 'Ann', score: 3 })).toBe('{"name":"Ann","score":3}');
    expect(preview('a\n  b')).toBe('a b');
    expect(preview('x'.repeat(100), 10)).toBe(`${'x'.repeat(9)}…`);
    expect(preview(null)).toBe('');
  });
});
