import { describe, expect, it } from 'vitest';
import type { EventDataByType, EventType, RunEvent } from '../api/events';
import { team } from '../test/fixtures';
import { edgeRunStates } from './edges';
import { applyEvents, initialRunView } from './reducer';

function run(request: Record<string, unknown>) {
  const events: RunEvent[] = [];
  const add = <T extends EventType>(type: T, step: string | null, data: EventDataByType[T], status: string | null, node: string | null) =>
    events.push({ seq: events.length + 1, type, run: 'run-1', step, node, status, data, ts: 1000 + events.length } as RunEvent);
  const done = { branch: 'out', attempt: 1, model: null, tokens_in: 0, tokens_out: 0, cost: 0, duration_ms: 1 };
  add('run.started', null, { input: { topic: 'bees' } }, 'running', null);
  add('step.started', 'brief', { attempt: 1, input: null, parent: null, round: 0 }, 'running', 'brief');
  add('step.succeeded', 'brief', { ...done, output: { topic: 'bees' } }, 'succeeded', 'brief');
  add('step.started', 'lead', { attempt: 1, input: { topic: 'bees' }, parent: null, round: 0 }, 'running', 'lead');
  add('step.succeeded', 'lead', { ...done, output: 'merged' }, 'succeeded', 'lead');
  add('step.started', 'gate', { attempt: 1, input: 'merged', parent: null, round: 0 }, 'running', 'gate');
  add('step.waiting', 'gate', { request }, 'waiting', 'gate');
  add('run.waiting', null, { steps: ['gate'] }, 'waiting', null);
  return applyEvents(initialRunView('run-1'), events);
}

describe('edge run states', () => {
  it('draws the edge into a gate waiting for a person as passed, not as data still arriving', () => {
    // a dot pulsing into the gate for as long as nobody decided read as a stray dot
    const view = run({ kind: 'approval', approval: 'a-1', prompt: 'Publish?' });
    expect(view.nodes.gate.status).toBe('waiting');
    expect(edgeRunStates(team, view)).toMatchObject({ e1: 'done', e4: 'done', e5: 'idle' });
  });

  it('still animates the edge into a step that waits for something other than a person', () => {
    const view = run({ kind: 'tasks' });
    expect(edgeRunStates(team, view)).toMatchObject({ e4: 'active' });
  });
});
