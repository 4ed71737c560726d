// Sub-flows in the run view: a subflow step's flow runs as steps of the run keyed
// `<subflow step>/<node>`, whose node ids are the sub-flow's. They stay under their subflow step
// (children, subtree, the flow's progress, its waiting gates) and never join a canvas node that
// shares their node id, nor make one; nested sub-flows and sub-flows as a map's body too.

import { describe, expect, it } from 'vitest';
import type { EventDataByType, EventType, FlowRef, RunEvent } from '../api/events';
import type { Graph } from '../api/graph';
import type { RunDetail, StepRecord } from '../api/resources';
import { gateOrigin } from '../approvals/decision';
import { runStoreOf } from './liveStore';
import { applyEvents, flowOfKey, fromSnapshot, initialRunView, nodeStatus, rerunDepthOf, type RunView } from './reducer';
import { canRerunFrom } from './rerun';
import { flowProgressText, flowRefsOf, flowTitle, stepNames } from './subflows';

const FACT_CHECK: FlowRef = { workflow: 'wf-fact', name: 'Fact check', number: 3 };
const INNER: FlowRef = { workflow: 'wf-inner', name: 'Inner', number: 1 };

/** The run's canvas: brief → check (a transform, sharing its id with a node of the sub-flow) →
 * sub (runs Fact check) → done. */
const outer: Graph = {
  nodes: [
    { id: 'brief', type: 'input', label: 'Brief', position: { x: 0, y: 0 }, config: {} },
    { id: 'check', type: 'transform', label: 'Outer check', position: { x: 200, y: 0 }, config: { template: '{{ upstream }}' } },
    { id: 'sub', type: 'subflow', label: 'Fact check it', position: { x: 400, y: 0 }, config: { workflow: 'wf-fact' } },
    { id: 'done', type: 'output', label: 'Done', position: { x: 600, y: 0 }, config: {} },
  ],
  edges: [
    { id: 'e1', source: 'brief', target: 'check' },
    { id: 'e2', source: 'check', target: 'sub' },
    { id: 'e3', source: 'sub', target: 'done' },
  ],
};

/** Fact check v3: start → check (its own "check") → gate → out. */
const factCheck: Graph = {
  nodes: [
    { id: 'start', type: 'input', label: 'Claims', position: { x: 0, y: 0 }, config: {} },
    { id: 'check', type: 'worker', label: 'Verify claims', position: { x: 200, y: 0 }, config: {} },
    { id: 'gate', type: 'approval', label: 'Sign off', position: { x: 400, y: 0 }, config: {} },
    { id: 'out', type: 'output', label: 'Verdict', position: { x: 600, y: 0 }, config: {} },
  ],
  edges: [],
};

function script() {
  const events: RunEvent[] = [];
  const add = <T extends EventType>(type: T, step: string | null, data: EventDataByType[T], status: string | null, node: string | null) => {
    events.push({ seq: events.length + 1, type, run: 'r', step, node, status, data, ts: 1000 + events.length } as RunEvent);
  };
  return { events, add };
}

const done = (output: unknown, cost = 0, tokens = 0) => ({
  output,
  branch: 'out',
  attempt: 1,
  model: cost ? 'openai/gpt-4o-mini' : null,
  tokens_in: tokens,
  tokens_out: tokens,
  cost,
  duration_ms: 20,
});

type Add = ReturnType<typeof script>['add'];

/** A step of a flow, queued, started and finished (the server's order). */
function ran(add: Add, key: string, node: string, parent: string | null, output: unknown, cost = 0, tokens = 0) {
  if (parent) add('step.queued', key, { parent }, 'queued', node);
  add('step.started', key, { attempt: 1, input: null, parent, round: 0 }, 'running', node);
  add('step.succeeded', key, done(output, cost, tokens), 'succeeded', node);
}

/** The run up to the sub-flow's gate waiting: the outer `check` and the inner `sub/check` both ran. */
function toTheGate() {
  const { events, add } = script();
  add('run.started', null, { input: { topic: 'owls' } }, 'running', null);
  ran(add, 'brief', 'brief', null, { topic: 'owls' });
  ran(add, 'check', 'check', null, 'outer checked', 0.001, 10);
  add('step.started', 'sub', { attempt: 1, input: 'outer checked', parent: null, round: 0 }, 'running', 'sub');
  add('step.delegated', 'sub', { round: 0, tasks: [], count: 0, flow: FACT_CHECK }, 'waiting', 'sub');
  ran(add, 'sub/start', 'start', 'sub', { claims: ['owls fly'] });
  ran(add, 'sub/check', 'check', 'sub', 'verified', 0.004, 100);
  add('step.queued', 'sub/gate', { parent: 'sub' }, 'queued', 'gate');
  add('step.started', 'sub/gate', { attempt: 1, input: 'verified', parent: 'sub', round: 0 }, 'running', 'gate');
  add('step.waiting', 'sub/gate', { request: { kind: 'approval', prompt: 'Publish?' } }, 'waiting', 'gate');
  add('run.waiting', null, { steps: ['sub/gate'] }, 'waiting', null);
  return { events, add };
}

describe('a sub-flow’s steps stay under their subflow step', () => {
  const { events } = toTheGate();
  const waiting = applyEvents(initialRunView('r'), events);

  it('keeps keys `sub/x` as the subflow step’s children, in its flow', () => {
    expect(waiting.steps['sub/check']).toMatchObject({ node: 'check', parent: 'sub', inFlow: 'sub' });
    expect(waiting.steps.sub.children).toEqual(['sub/start', 'sub/check', 'sub/gate']);
    expect(waiting.steps.sub.flow).toEqual(FACT_CHECK);
    expect(waiting.steps.check.inFlow).toBeNull();
  });

  it('leaves the outer node sharing an id alone and makes no canvas node of the sub-flow’s', () => {
    expect(Object.keys(waiting.nodes).sort()).toEqual(['brief', 'check', 'sub']);
    expect(waiting.nodes.check.steps).toEqual(['check']);
    expect(waiting.nodes.check.own.cost).toBe(0.001);
    expect(waiting.nodes.check.subtree.cost).toBe(0.001);
    expect(nodeStatus(waiting, 'check')).toBe('succeeded');
    expect(nodeStatus(waiting, 'gate')).toBe('pending'); // not a node of the canvas: nothing of it
    // a failure inside the sub-flow does not mark the outer check failed
    const { events: more, add: again } = script();
    again('step.failed', 'sub/check', { error: { message: 'boom' }, attempt: 2 }, 'failed', 'check');
    const failed = applyEvents(waiting, more.map((e) => ({ ...e, seq: (e.seq ?? 0) + 100 }) as RunEvent));
    expect(failed.nodes.check.status).toBe('succeeded');
    expect(failed.nodes.check.error).toBeNull();
  });

  it('counts the flow’s steps and costs on the subflow step, and its waiting gate', () => {
    const sub = waiting.nodes.sub;
    expect(sub.status).toBe('waiting');
    expect(sub.own.cost).toBe(0);
    expect(sub.subtree).toEqual({ tokens_in: 100, tokens_out: 100, cost: 0.004 });
    expect(sub.flow?.ref).toEqual(FACT_CHECK);
    expect(sub.flow?.progress).toEqual({ known: 3, finished: 2, failed: 0, running: 0, asking: ['sub/gate'] });
    expect(sub.progress).toBeNull(); // not a map's items
    expect(flowProgressText(sub.flow!.progress, factCheck.nodes.length)).toBe('2 / 4 steps · waiting for approval');
    // the card offers the gate's Decide
    const store = runStoreOf(waiting, outer);
    expect(store.node('sub').waiting).toContainEqual({ id: 'sub/gate', approval: true });
    expect(store.node('check').waiting).toEqual([]);
  });

  it('finishes: the gate decided, the flow’s last step, the subflow step resumed', () => {
    const { events: rest, add: then } = script();
    then('step.resumed', 'sub/gate', { round: 1 }, 'running', 'gate');
    then('step.succeeded', 'sub/gate', { ...done('verified'), branch: 'approved' }, 'succeeded', 'gate');
    ran(then, 'sub/out', 'out', 'sub', 'verified');
    then('step.resumed', 'sub', { round: 1 }, 'running', 'sub');
    then('step.succeeded', 'sub', done('verified'), 'succeeded', 'sub');
    ran(then, 'done', 'done', null, 'verified');
    then('run.succeeded', null, { output: 'verified', totals: { tokens_in: 110, tokens_out: 110, cost: 0.005, by_model: {} } }, 'succeeded', null);
    const finished = applyEvents(waiting, rest.map((e) => ({ ...e, seq: (e.seq ?? 0) + events.length }) as RunEvent));
    expect(finished.status).toBe('succeeded');
    expect(finished.nodes.sub.status).toBe('succeeded');
    expect(finished.nodes.sub.flow?.progress).toEqual({ known: 4, finished: 4, failed: 0, running: 0, asking: [] });
    expect(Object.keys(finished.nodes).sort()).toEqual(['brief', 'check', 'done', 'sub']);
    expect(finished.nodes.sub.children.map((c) => c.step)).toEqual(['sub/start', 'sub/check', 'sub/gate', 'sub/out']);
  });

  it('names a sub-flow’s steps by the sub-flow’s graph, the run’s by the canvas', () => {
    const labelOf = (id: string) => outer.nodes.find((n) => n.id === id)?.label || id;
    const nodeOf = (id: string) => outer.nodes.find((n) => n.id === id);
    const names = stepNames(waiting, labelOf, nodeOf, (ref) => (ref.workflow === 'wf-fact' ? factCheck : undefined));
    expect(names.label(waiting.steps['sub/check'])).toBe('Verify claims');
    expect(names.node(waiting.steps['sub/check'])?.type).toBe('worker');
    expect(names.label(waiting.steps.check)).toBe('Outer check');
    expect(names.node(waiting.steps.check)?.type).toBe('transform');
    expect(names.labelIn('sub')('gate')).toBe('Sign off');
    // until its graph is fetched, a sub-flow's step goes by its node id, never the canvas's label
    const unfetched = stepNames(waiting, labelOf, nodeOf);
    expect(unfetched.label(waiting.steps['sub/check'])).toBe('check');
    expect(flowRefsOf(waiting.steps)).toEqual([FACT_CHECK]);
    expect(flowTitle(FACT_CHECK)).toBe('Fact check v3');
  });

  it('re-runs from a step of a sub-flow, not from a task delegated inside one', () => {
    const { events, add } = toTheGate();
    add('step.delegated', 'sub/check', { tasks: [{ step: 'sub/check.helper.1', node: 'helper' }] }, 'waiting', 'check');
    const view = applyEvents(initialRunView('r'), events);
    expect(view.steps['sub/check.helper.1']).toMatchObject({ parent: 'sub/check', inFlow: 'sub' });
    expect(rerunDepthOf(view, 'sub/check')).toBe(0);
    expect(canRerunFrom(view.steps['sub/start'], rerunDepthOf(view, 'sub/start'))).toBe(true);
    expect(canRerunFrom({ status: 'succeeded' }, rerunDepthOf(view, 'sub/check.helper.1'))).toBe(false);
    expect(Object.keys(view.nodes)).not.toContain('helper');
  });
});

describe('a sub-flow as a map’s body, with a sub-flow nested in it', () => {
  // each (a map) runs `sub` (a subflow node running Fact check) per item; the second item's
  // Fact check runs `inner`, a nested sub-flow whose step `x` shares its id with nothing
  function mapRun(): RunView {
    const { events, add } = script();
    add('run.started', null, { input: {} }, 'running', null);
    add('step.started', 'each', { attempt: 1, input: ['a', 'b'], parent: null, round: 0 }, 'running', 'each');
    add('step.queued', 'each.sub.1', { parent: 'each' }, 'queued', 'sub');
    add('step.queued', 'each.sub.2', { parent: 'each' }, 'queued', 'sub');
    add('step.delegated', 'each', { round: 0, tasks: [{ step: 'each.sub.1', node: 'sub' }, { step: 'each.sub.2', node: 'sub' }], count: 2 }, 'waiting', 'each');
    for (const item of ['each.sub.1', 'each.sub.2']) {
      add('step.started', item, { attempt: 1, input: 'a', parent: 'each', round: 0 }, 'running', 'sub');
      add('step.delegated', item, { round: 0, tasks: [], count: 0, flow: FACT_CHECK }, 'waiting', 'sub');
      ran(add, `${item}/check`, 'check', item, 'verified', 0.002, 5);
    }
    add('step.queued', 'each.sub.2/inner', { parent: 'each.sub.2' }, 'queued', 'inner');
    add('step.started', 'each.sub.2/inner', { attempt: 1, input: null, parent: 'each.sub.2', round: 0 }, 'running', 'inner');
    add('step.delegated', 'each.sub.2/inner', { round: 0, tasks: [], count: 0, flow: INNER }, 'waiting', 'inner');
    ran(add, 'each.sub.2/inner/x', 'x', 'each.sub.2/inner', 'x done', 0.003, 7);
    add('step.queued', 'each.sub.2/inner/gate', { parent: 'each.sub.2/inner' }, 'queued', 'gate');
    add('step.started', 'each.sub.2/inner/gate', { attempt: 1, input: null, parent: 'each.sub.2/inner', round: 0 }, 'running', 'gate');
    add('step.waiting', 'each.sub.2/inner/gate', { request: { kind: 'approval', prompt: 'OK?' } }, 'waiting', 'gate');
    return applyEvents(initialRunView('r'), events);
  }
  const view = mapRun();

  it('keeps every inner step under its item’s subflow step, however deep', () => {
    expect(view.steps['each.sub.2/check']).toMatchObject({ parent: 'each.sub.2', inFlow: 'each.sub.2' });
    expect(view.steps['each.sub.2/inner/x']).toMatchObject({ parent: 'each.sub.2/inner', inFlow: 'each.sub.2/inner' });
    expect(view.steps['each.sub.2/inner'].flow).toEqual(INNER);
    expect(view.steps['each.sub.2'].children).toEqual(['each.sub.2/check', 'each.sub.2/inner']);
    expect(flowOfKey('each.sub.2/inner/x')).toBe('each.sub.2/inner');
  });

  it('offers no re-run from a step of a map item’s sub-flow or a nested one (the server refuses)', () => {
    expect(rerunDepthOf(view, 'each.sub.2/check')).toBe(Number.POSITIVE_INFINITY);
    expect(rerunDepthOf(view, 'each.sub.2/inner/x')).toBe(Number.POSITIVE_INFINITY);
    expect(canRerunFrom(view.steps['each.sub.2/check'], rerunDepthOf(view, 'each.sub.2/check'))).toBe(false);
    expect(rerunDepthOf(view, 'each.sub.2')).toBe(1); // the item itself: a task of the map
  });

  it('makes no canvas node of a node id inside, and counts the map’s items only', () => {
    expect(Object.keys(view.nodes).sort()).toEqual(['each', 'sub']);
    expect(view.nodes.sub.steps).toEqual(['each.sub.1', 'each.sub.2']);
    expect(view.nodes.each.progress).toMatchObject({ total: 2, finished: 0, waiting: 2 });
    // the map's subtree holds every step under it, nested sub-flows too
    expect(view.nodes.each.subtree.cost).toBe(0.007);
    expect(view.nodes.each.subtree.tokens_in).toBe(17);
  });

  it('finds the waiting gate of the nested sub-flow from the outer item', () => {
    const names = stepNames(view, (id) => id, () => undefined);
    expect(names.flowOf('each.sub.2/inner')?.ref).toEqual(INNER);
    const item = view.steps['each.sub.2'];
    expect(view.nodes.sub.flow?.progress.asking).toEqual(['each.sub.2/inner/gate']);
    expect(item.flow).toEqual(FACT_CHECK);
    expect(gateOrigin('each.sub.2/inner/gate')).toBe('in sub-flow each.sub.2/inner');
    expect(gateOrigin('check/gate')).toBe('in sub-flow check');
    expect(gateOrigin('check/gate', 'Check facts')).toBe('in sub-flow Check facts');
    expect(gateOrigin('each.ask.2')).toBe('#2 of each');
    expect(gateOrigin('gate')).toBeNull();
  });
});

describe('a sub-flow in a snapshot and in a re-run', () => {
  const record = (id: string, extra: Partial<StepRecord>): StepRecord => ({
    id,
    node: id.split('/').pop()!,
    type: 'transform',
    status: 'succeeded',
    parent: null,
    input: null,
    output: null,
    branch: 'out',
    error: null,
    attempt: 1,
    model: null,
    tokens_in: 0,
    tokens_out: 0,
    cost: 0,
    started_at: null,
    finished_at: null,
    duration_ms: 10,
    flow: null,
    in_flow: null,
    ...extra,
  });

  it('takes in_flow and flow from the API, and sums the subtree the server does', () => {
    const detail = {
      id: 'r',
      status: 'succeeded',
      input: null,
      output: null,
      last_seq: 20,
      totals: { tokens_in: 30, tokens_out: 30, cost: 0.006, by_model: {} },
      steps: [
        record('check', { cost: 0.001, tokens_in: 10, tokens_out: 10, subtree: { tokens_in: 10, tokens_out: 10, cost: 0.001 } }),
        record('sub', { type: 'subflow', flow: FACT_CHECK, subtree: { tokens_in: 20, tokens_out: 20, cost: 0.005 } }),
        record('sub/start', { type: 'input', parent: 'sub', in_flow: 'sub' }),
        record('sub/check', { type: 'worker', parent: 'sub', in_flow: 'sub', cost: 0.005, tokens_in: 20, tokens_out: 20 }),
      ],
    } as unknown as RunDetail;
    const view = fromSnapshot(detail);
    expect(Object.keys(view.nodes).sort()).toEqual(['check', 'sub']);
    expect(view.nodes.check.own.cost).toBe(0.001);
    const sub = detail.steps.find((s) => s.id === 'sub')!;
    expect(view.nodes.sub.subtree).toEqual(sub.subtree);
    expect(view.nodes.sub.flow?.progress.finished).toBe(2);
    expect(view.steps['sub/check'].type).toBe('worker');
  });

  it('puts a reused step of a sub-flow (its event names no parent) under its subflow step', () => {
    const { events, add } = script();
    add('run.started', null, { input: {}, source: { run: 'r0', step: 'sub/check', mode: 'from' } }, 'running', null);
    add('step.reused', 'check', { input: null, fingerprint: 'f', output: 'outer', branch: 'out', from: { kind: 'recorded', run: 'r0', step: 'check' }, saved_cost: 0.001, saved_tokens: 20 }, 'reused', 'check');
    add('step.started', 'sub', { attempt: 1, input: 'outer', parent: null, round: 0 }, 'running', 'sub');
    add('step.delegated', 'sub', { round: 0, tasks: [], count: 0, flow: FACT_CHECK }, 'waiting', 'sub');
    add('step.reused', 'sub/start', { input: null, fingerprint: 'f', output: {}, branch: 'out', from: { kind: 'recorded', run: 'r0', step: 'sub/start' }, saved_cost: 0, saved_tokens: 0 }, 'reused', 'start');
    add('step.queued', 'sub/check', { parent: 'sub' }, 'queued', 'check');
    add('step.started', 'sub/check', { attempt: 1, input: {}, parent: 'sub', round: 0 }, 'running', 'check');
    const view = applyEvents(initialRunView('r'), events);
    expect(view.steps['sub/start']).toMatchObject({ parent: 'sub', inFlow: 'sub', status: 'reused' });
    expect(view.steps.sub.children).toEqual(['sub/start', 'sub/check']);
    expect(view.nodes.check.status).toBe('reused'); // the outer check, untouched by sub/check running
    expect(view.nodes.sub.flow?.progress).toMatchObject({ known: 2, finished: 1, running: 1 });
    expect(Object.keys(view.nodes).sort()).toEqual(['check', 'sub']);
  });
});
