import { describe, expect, it } from 'vitest';
import { research, researchRun } from '../test/fixtures';
import { applyEvent, applyEvents, initialRunView, type RunView } from './reducer';
import { RunStore } from './liveStore';

/** The view after the events up to and including seq `last`. */
function viewUpTo(last: number): RunView {
  return applyEvents(
    initialRunView(researchRun[0].run),
    researchRun.filter((e) => e.seq !== null && e.seq <= last),
  );
}

/** Which node ids' and edge ids' subscribers an update woke. */
function watch(store: RunStore, nodes: string[], edges: string[]) {
  const woken: string[] = [];
  for (const id of nodes) store.subscribeNode(id, () => woken.push(id));
  for (const id of edges) store.subscribeEdge(id, () => woken.push(`edge:${id}`));
  return woken;
}

const NODES = research.nodes.map((n) => n.id);
const EDGES = research.edges.map((e) => e.id);

describe('the run store', () => {
  it('holds each node and edge as the run view shows it', () => {
    const store = new RunStore();
    store.update(viewUpTo(5), research); // brief and plan succeeded
    expect(store.node('brief').status).toBe('succeeded');
    expect(store.node('plan').status).toBe('succeeded');
    expect(store.node('critic').status).toBe('pending');
    expect(store.node('plan').view?.duration_ms).not.toBeNull();
    expect(store.edge('e1')).toBe('done');
    expect(store.edge('e2')).toBe('done'); // plan's output went out to research, which has not started
    expect(store.edge('e4')).toBe('idle');
  });

  it('wakes only the subscribers of the nodes and edges an event changed', () => {
    const store = new RunStore();
    store.update(viewUpTo(5), research);
    const woken = watch(store, NODES, EDGES);
    const before = store.node('brief');

    store.update(viewUpTo(6), research); // step.started on critic
    expect(woken.sort()).toEqual(['critic', 'edge:e3'].sort());
    expect(store.node('critic').status).toBe('running');
    expect(store.edge('e3')).toBe('active');
    // unchanged nodes keep the very same object: useSyncExternalStore sees no change
    expect(store.node('brief')).toBe(before);
  });

  it('wakes nobody for output chunks, which change nothing a card shows', () => {
    const store = new RunStore();
    store.update(viewUpTo(6), research);
    const woken = watch(store, NODES, EDGES);
    const versionBefore = store.version();
    store.update(viewUpTo(20), research); // chunks of critic's output
    expect(woken).toEqual([]);
    expect(store.version()).toBe(versionBefore);
  });

  it('counts status changes for the mini map, once per update', () => {
    const store = new RunStore();
    let calls = 0;
    store.subscribeStatuses(() => (calls += 1));
    store.update(viewUpTo(3), research);
    expect(calls).toBe(1);
    const version = store.version();
    store.update(viewUpTo(5), research);
    expect(calls).toBe(2);
    expect(store.version()).toBeGreaterThan(version);
  });

  it('ends with every node and edge as the finished run left them', () => {
    const store = new RunStore();
    const woken = watch(store, NODES, EDGES);
    let view = initialRunView(researchRun[0].run);
    for (const event of researchRun) {
      view = applyEvent(view, event);
      store.update(view, research);
    }
    expect(store.node('publish').status).toBe('succeeded');
    expect(store.node('too_short').status).toBe('skipped');
    expect(store.edge('e7')).toBe('done');
    expect(store.edge('e8')).toBe('not-taken');
    // every node was woken, and far fewer times than there were events
    for (const id of NODES) expect(woken).toContain(id);
    expect(woken.filter((id) => id === 'critic').length).toBeLessThan(5);
    expect(researchRun.length).toBeGreaterThan(50);
  });

  it('shows a failed node with its error, and a waiting step asking for an approval', () => {
    const store = new RunStore();
    const base = viewUpTo(1);
    const failed = applyEvents(base, [
      { seq: 2, type: 'step.started', run: base.runId, step: 'plan', node: 'plan', status: 'running', data: { attempt: 1, input: null, parent: null, round: 0 }, ts: 2 },
      { seq: 3, type: 'step.failed', run: base.runId, step: 'plan', node: 'plan', status: 'failed', data: { error: { message: 'template broke' }, attempt: 1 }, ts: 3 },
      { seq: 4, type: 'step.started', run: base.runId, step: 'merge', node: 'merge', status: 'running', data: { attempt: 1, input: null, parent: null, round: 0 }, ts: 4 },
      { seq: 5, type: 'step.waiting', run: base.runId, step: 'merge', node: 'merge', status: 'waiting', data: { request: { kind: 'approval', prompt: 'ok?' } }, ts: 5 },
    ] as never);
    store.update(failed, research);
    expect(store.node('plan')).toMatchObject({ status: 'failed', error: 'template broke' });
    expect(store.node('merge')).toMatchObject({ status: 'waiting', waiting: [{ id: 'merge', approval: true }] });
  });
});
