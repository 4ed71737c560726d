// A workflow called as a tool: the call is a child step of the calling worker (`agent/Lookup.1`,
// naming the workflow it runs), and the workflow's steps are the call's children
// (`agent/Lookup.1/look`), in the order the server sends their events. They nest under the
// worker, count in its subtree (not its own figures), never make canvas nodes of their own, and
// cannot be re-run from (the re-run starts at the worker).

import { describe, expect, it } from 'vitest';
import type { EventDataByType, EventType, FlowRef, RunEvent } from '../api/events';
import type { RunDetail } from '../api/resources';
import { applyEvents, deriveNodes, fromSnapshot, initialRunView, rerunDepthOf } from './reducer';
import { toolCallerOf } from './subflows';
import { childrenTitle } from './iteration';

const LOOKUP: FlowRef = { workflow: 'wf-lookup', name: 'Lookup', number: 2 };

function toolRun(): RunEvent[] {
  const events: RunEvent[] = [];
  const add = <T extends EventType>(type: T, step: string | null, data: EventDataByType[T], status: string | null, node: string | null) => {
    events.push({ seq: events.length + 1, type, run: 'r', step, node, status, data, ts: 1000 + events.length } as RunEvent);
  };
  const succeeded = (output: unknown, cost: number, tokens: number) => ({
    output,
    branch: 'out',
    attempt: 1,
    model: tokens ? 'openai/gpt-4o-mini' : null,
    tokens_in: tokens,
    tokens_out: tokens,
    cost,
    duration_ms: 5,
  });
  add('run.started', null, { input: {} }, 'running', null);
  add('step.started', 'agent', { attempt: 1, input: {}, parent: null, round: 0 }, 'running', 'agent');
  add('step.started', 'agent/Lookup.1', { attempt: 1, input: { q: 'tides' }, parent: 'agent', round: 0 }, 'running', 'Lookup');
  add('step.delegated', 'agent/Lookup.1', { round: 0, tasks: [], count: 0, flow: LOOKUP }, 'running', 'Lookup');
  add('step.started', 'agent/Lookup.1/in', { attempt: 1, input: { q: 'tides' }, parent: 'agent/Lookup.1', round: 0 }, 'running', 'in');
  add('step.succeeded', 'agent/Lookup.1/in', succeeded({ q: 'tides' }, 0, 0), 'succeeded', 'in');
  add('step.started', 'agent/Lookup.1/look', { attempt: 1, input: { q: 'tides' }, parent: 'agent/Lookup.1', round: 0 }, 'running', 'look');
  add('step.succeeded', 'agent/Lookup.1/look', succeeded('twice a day', 0.002, 10), 'succeeded', 'look');
  add('step.succeeded', 'agent/Lookup.1', succeeded('twice a day', 0, 0), 'succeeded', 'Lookup');
  add('step.succeeded', 'agent', succeeded('answered', 0.001, 20), 'succeeded', 'agent');
  return events;
}

describe('a workflow tool call’s steps', () => {
  const view = applyEvents(initialRunView('r'), toolRun());

  it('nest under the calling worker: the call, then the workflow’s steps under the call', () => {
    expect(view.steps.agent.children).toEqual(['agent/Lookup.1']);
    expect(view.steps['agent/Lookup.1']).toMatchObject({ parent: 'agent', inFlow: 'agent', flow: LOOKUP, status: 'succeeded' });
    expect(view.steps['agent/Lookup.1'].children).toEqual(['agent/Lookup.1/in', 'agent/Lookup.1/look']);
    expect(view.steps['agent/Lookup.1/look']).toMatchObject({ parent: 'agent/Lookup.1', inFlow: 'agent/Lookup.1', tokens_in: 10 });
    expect(toolCallerOf(view, view.steps['agent/Lookup.1'])?.id).toBe('agent');
    expect(toolCallerOf(view, view.steps['agent/Lookup.1/look'])).toBeNull();
    expect(childrenTitle('worker')).toBe('Workflows called as tools');
  });

  it('count in the worker’s subtree and the run’s totals, once, and make no canvas node', () => {
    const nodes = deriveNodes(view);
    expect(Object.keys(nodes)).toEqual(['agent']);
    expect(nodes.agent.own).toEqual({ tokens_in: 20, tokens_out: 20, cost: 0.001 });
    expect(nodes.agent.subtree).toEqual({ tokens_in: 30, tokens_out: 30, cost: 0.003 });
    expect(nodes.agent.children.map((c) => c.step)).toEqual(['agent/Lookup.1']);
  });

  it('offers a re-run from the worker, not from inside its call', () => {
    expect(rerunDepthOf(view, 'agent')).toBe(0);
    expect(rerunDepthOf(view, 'agent/Lookup.1')).toBe(Number.POSITIVE_INFINITY);
    expect(rerunDepthOf(view, 'agent/Lookup.1/look')).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('a workflow tool call’s steps from the run’s snapshot (GET /api/runs/<id>/)', () => {
  const record = (id: string, node: string, parent: string | null, inFlow: string | null, extra: Record<string, unknown> = {}) => ({
    id,
    node,
    type: 'worker',
    status: 'succeeded',
    parent,
    in_flow: inFlow,
    input: null,
    output: null,
    attempt: 1,
    tokens_in: 0,
    tokens_out: 0,
    cost: 0,
    started_at: null,
    finished_at: null,
    duration_ms: null,
    flow: null,
    ...extra,
  });
  const detail = {
    id: 'r',
    status: 'succeeded',
    last_seq: 20,
    steps: [
      record('agent', 'agent', null, null, { tokens_in: 20, tokens_out: 20, cost: 0.001 }),
      record('agent/Lookup.1', 'Lookup', 'agent', 'agent', { type: 'workflow_tool', flow: LOOKUP }),
      record('agent/Lookup.1/look', 'look', 'agent/Lookup.1', 'agent/Lookup.1', { tokens_in: 10, tokens_out: 10, cost: 0.002 }),
    ],
    totals: { tokens_in: 30, tokens_out: 30, cost: 0.003, by_model: {} },
  } as unknown as RunDetail;
  const view = fromSnapshot(detail);

  it('nests them as the live events do', () => {
    expect(view.steps.agent.children).toEqual(['agent/Lookup.1']);
    expect(view.steps['agent/Lookup.1'].children).toEqual(['agent/Lookup.1/look']);
    expect(toolCallerOf(view, view.steps['agent/Lookup.1'])?.id).toBe('agent');
    expect(Object.keys(view.nodes)).toEqual(['agent']);
    expect(view.nodes.agent.subtree).toEqual({ tokens_in: 30, tokens_out: 30, cost: 0.003 });
    expect(rerunDepthOf(view, 'agent/Lookup.1/look')).toBe(Number.POSITIVE_INFINITY);
  });
});
