import { describe, expect, it } from 'vitest';
import type { EventDataByType, EventType, RunEvent } from '../api/events';
import type { RunDetail } from '../api/resources';
import { research, researchRun, team } from '../test/fixtures';
import { edgeRunStates } from './edges';
import { applyEvent, applyEvents, fromSnapshot, initialRunView, nodeStatus, STREAM_GAP, type RunView } from './reducer';

/** Builds events the way the server numbers them: seq from 1, one clock tick apart. */
function script() {
  const events: RunEvent[] = [];
  const add = <T extends EventType>(type: T, step: string | null, data: EventDataByType[T], status?: string, node?: string) => {
    const seq = events.length + 1;
    events.push({
      seq,
      type,
      run: 'run-1',
      step,
      node: node ?? (step ? step.split('.').slice(-2, -1)[0] ?? step : null),
      status: status ?? null,
      data,
      ts: 1000 + seq,
    } as RunEvent);
    return seq;
  };
  return { events, add };
}

const usage = (tokens_in: number, tokens_out: number, cost: number, model = 'openai/gpt-4o-mini') => ({
  output: 'ok',
  branch: 'out',
  attempt: 1,
  model,
  tokens_in,
  tokens_out,
  cost,
  duration_ms: 1500,
});

/** The manager/worker flow: delegation, a retried worker, a waiting approval. */
function teamRun() {
  const { events, add } = script();
  add('run.started', null, { input: { topic: 'bees' } }, 'running');
  add('step.started', 'brief', { attempt: 1, input: null, parent: null, round: 0 }, 'running', 'brief');
  add('step.succeeded', 'brief', { ...usage(0, 0, 0), model: null, output: { topic: 'bees' } }, 'succeeded', 'brief');
  add('step.started', 'lead', { attempt: 1, input: { topic: 'bees' }, parent: null, round: 0 }, 'running', 'lead');
  add('step.chunk', 'lead', { text: 'Splitting ' }, 'running', 'lead');
  add('step.chunk', 'lead', { text: 'the brief.' }, 'running', 'lead');
  const delegated = add(
    'step.delegated',
    'lead',
    { tasks: [{ step: 'lead.res.1', node: 'res' }, { step: 'lead.writer.1', node: 'writer' }] },
    'running',
    'lead',
  );
  add('step.started', 'lead.res.1', { attempt: 1, input: 'find facts', parent: 'lead', round: 0 }, 'running', 'res');
  add('step.started', 'lead.writer.1', { attempt: 1, input: 'write', parent: 'lead', round: 0 }, 'running', 'writer');
  add('step.retrying', 'lead.writer.1', { attempt: 1, error: { code: 'rate_limited', message: 'slow down', retryable: true }, delay: 1 }, 'running', 'writer');
  add('step.started', 'lead.writer.1', { attempt: 2, input: 'write', parent: 'lead', round: 0 }, 'running', 'writer');
  add('step.chunk', 'lead.writer.1', { text: 'Bees ' }, 'running', 'writer');
  add('step.succeeded', 'lead.res.1', { ...usage(100, 50, 0.001), output: 'facts' }, 'succeeded', 'res');
  add('step.succeeded', 'lead.writer.1', { ...usage(200, 100, 0.002), attempt: 2, output: 'Bees dance.' }, 'succeeded', 'writer');
  add('step.resumed', 'lead', { round: 1 }, 'running', 'lead');
  add('step.started', 'lead', { attempt: 1, input: { topic: 'bees' }, parent: null, round: 1 }, 'running', 'lead');
  add('step.succeeded', 'lead', { ...usage(10, 5, 0.0005), output: 'merged' }, 'succeeded', 'lead');
  add('step.started', 'gate', { attempt: 1, input: 'merged', parent: null, round: 0 }, 'running', 'gate');
  add('step.waiting', 'gate', { request: { prompt: 'Publish?' } }, 'waiting', 'gate');
  add('run.waiting', null, { steps: ['gate'] }, 'waiting');
  return { events, delegated };
}

describe('run reducer: a manager delegating, a retry, a wait', () => {
  const { events, delegated } = teamRun();
  const final = applyEvents(initialRunView('run-1'), events);

  it('shows every node with its status, and nodes not reached as pending', () => {
    expect(final.status).toBe('waiting');
    expect(nodeStatus(final, 'brief')).toBe('succeeded');
    expect(nodeStatus(final, 'lead')).toBe('succeeded');
    expect(nodeStatus(final, 'res')).toBe('succeeded');
    expect(nodeStatus(final, 'writer')).toBe('succeeded');
    expect(nodeStatus(final, 'gate')).toBe('waiting');
    expect(nodeStatus(final, 'out')).toBe('pending');
    expect(final.steps.gate.request).toEqual({ prompt: 'Publish?' });
    expect(final.lastSeq).toBe(events.length);
  });

  it('shows delegations as child badges on the manager as soon as they are made', () => {
    const atDelegation = applyEvents(initialRunView('run-1'), events.slice(0, delegated));
    expect(atDelegation.nodes.lead.children).toEqual([
      { step: 'lead.res.1', node: 'res', status: 'queued' },
      { step: 'lead.writer.1', node: 'writer', status: 'queued' },
    ]);
    // workers that only run as tasks still show a status on their own node
    expect(nodeStatus(atDelegation, 'res')).toBe('queued');
    // the delegate edges pulse while the tasks are out; the edge into the working manager animates
    expect(edgeRunStates(team, atDelegation)).toMatchObject({ e2: 'active', e3: 'active', e1: 'active', e4: 'idle' });
    const mid = applyEvents(atDelegation, events.slice(delegated, delegated + 2));
    expect(mid.nodes.lead.children.map((c) => c.status)).toEqual(['running', 'running']);
    expect(final.nodes.lead.children.map((c) => c.status)).toEqual(['succeeded', 'succeeded']);
    expect(edgeRunStates(team, final)).toMatchObject({ e1: 'done', e2: 'done', e3: 'done', e4: 'active', e5: 'idle' });
  });

  it('rolls the cost of the whole subtree up to the manager', () => {
    expect(final.nodes.lead.own).toEqual({ tokens_in: 10, tokens_out: 5, cost: 0.0005 });
    expect(final.nodes.lead.subtree).toEqual({ tokens_in: 310, tokens_out: 155, cost: 0.0035 });
    expect(final.nodes.writer.own).toEqual({ tokens_in: 200, tokens_out: 100, cost: 0.002 });
    expect(final.nodes.writer.subtree).toEqual(final.nodes.writer.own);
    expect(final.totals.cost).toBe(0.0035);
    expect(final.totals.tokens_in).toBe(310);
    expect(final.totals.by_model['openai/gpt-4o-mini'].tokens_out).toBe(155);
  });

  it('keeps failed attempts that were retried, and the attempt that finished', () => {
    const writer = final.steps['lead.writer.1'];
    expect(writer.attempt).toBe(2);
    expect(writer.retries).toEqual([{ attempt: 1, error: { code: 'rate_limited', message: 'slow down', retryable: true }, delay: 1, ts: 1010 }]);
    expect(writer.parent).toBe('lead');
    expect(writer.error).toBeNull();
    expect(final.nodes.writer.attempt).toBe(2);
  });

  it('streams model output into the running step and follows the step that streams', () => {
    const afterChunks = applyEvents(initialRunView('run-1'), events.slice(0, 6));
    expect(afterChunks.steps.lead.text).toBe('Splitting the brief.');
    expect(afterChunks.streaming).toBe('lead');
    const writerStreaming = applyEvents(initialRunView('run-1'), events.slice(0, 12));
    expect(writerStreaming.streaming).toBe('lead.writer.1');
    expect(writerStreaming.steps['lead.writer.1'].text).toBe('Bees ');
  });

  it('lists steps in the order they appeared, for the timeline', () => {
    expect(final.order).toEqual(['brief', 'lead', 'lead.res.1', 'lead.writer.1', 'gate']);
  });

  it('leaves derived node figures untouched by a chunk (no needless re-render of every node)', () => {
    const before = applyEvents(initialRunView('run-1'), events.slice(0, 4));
    const after = applyEvent(before, events[4]);
    expect(after.nodes).toBe(before.nodes);
    expect(after.steps.lead).not.toBe(before.steps.lead);
  });
});

describe('run reducer: skip, failure, cancellation', () => {
  function failing() {
    const { events, add } = script();
    add('run.started', null, { input: { topic: 'x' } }, 'running');
    add('step.started', 'brief', { attempt: 1, input: null, parent: null, round: 0 }, 'running', 'brief');
    add('step.succeeded', 'brief', { ...usage(0, 0, 0), output: { topic: 'x' } }, 'succeeded', 'brief');
    add('step.started', 'plan', { attempt: 1, input: null, parent: null, round: 0 }, 'running', 'plan');
    add('step.succeeded', 'plan', { ...usage(0, 0, 0), output: 'p' }, 'succeeded', 'plan');
    add('step.started', 'research', { attempt: 1, input: 'p', parent: null, round: 0 }, 'running', 'research');
    add('step.started', 'critic', { attempt: 1, input: 'p', parent: null, round: 0 }, 'running', 'critic');
    add('step.retrying', 'critic', { attempt: 1, error: { code: 'timeout', message: 'took too long', retryable: true }, delay: 2 }, 'running', 'critic');
    add('step.started', 'critic', { attempt: 2, input: 'p', parent: null, round: 0 }, 'running', 'critic');
    add('step.failed', 'critic', { error: { code: 'provider_error', message: 'the model said no', retryable: false }, attempt: 2 }, 'failed', 'critic');
    add('step.cancelled', 'research', {} as Record<string, never>, 'cancelled', 'research');
    add('run.failed', null, { error: { message: "step 'critic' failed", step: 'critic', node: 'critic', code: 'provider_error' } }, 'failed');
    return events;
  }

  it('marks the failed step with its error and attempts, and the run failed', () => {
    const view = applyEvents(initialRunView('run-1'), failing());
    expect(view.status).toBe('failed');
    expect(view.error).toMatchObject({ step: 'critic', code: 'provider_error' });
    expect(nodeStatus(view, 'critic')).toBe('failed');
    expect(view.nodes.critic.error?.message).toBe('the model said no');
    expect(view.steps.critic.attempt).toBe(2);
    expect(view.steps.critic.retries).toHaveLength(1);
    expect(nodeStatus(view, 'research')).toBe('cancelled');
    // nodes never reached are idle once the run is over, not "pending"
    expect(nodeStatus(view, 'merge')).toBe('idle');
    expect(view.steps.critic.finishedAt).toBe(1010);
    expect(view.nodes.critic.duration_ms).toBe(3000); // first started at 1007, failed for good at 1010
  });

  it('replays the engine’s real log of the research example, with a skipped branch', () => {
    const view = applyEvents(initialRunView(), researchRun);
    expect(view.runId).toBe(researchRun[0].run);
    expect(view.status).toBe('succeeded');
    for (const id of ['brief', 'plan', 'research', 'critic', 'merge', 'size', 'publish']) {
      expect(nodeStatus(view, id)).toBe('succeeded');
    }
    expect(nodeStatus(view, 'too_short')).toBe('skipped');
    expect(view.steps.size.branch).toBe('long');
    expect(view.steps.research.text).toBe(view.steps.research.output);
    expect(view.totals).toEqual(researchRun[researchRun.length - 1].data && (researchRun[researchRun.length - 1].data as { totals: unknown }).totals);
    expect(view.output).toHaveProperty('publish');
    const edges = edgeRunStates(research, view);
    expect(edges.e7).toBe('done'); // size → publish on "long"
    expect(edges.e8).toBe('not-taken'); // size → too_short on "short"
    expect(view.nodes.research.own.tokens_in).toBeGreaterThan(0);
  });
});

describe('run reducer: snapshot, then events after its seq', () => {
  const { events } = teamRun();
  const full = applyEvents(initialRunView('run-1'), events);

  /** What GET /api/runs/<id>/ would answer after `upto` events. */
  function snapshotAfter(upto: number): RunDetail {
    const view = applyEvents(initialRunView('run-1'), events.slice(0, upto));
    return {
      id: 'run-1',
      status: view.status === 'idle' ? 'queued' : view.status,
      input: view.input,
      output: view.output,
      error: null,
      totals: view.totals,
      last_seq: view.lastSeq,
      steps: view.order.map((id) => {
        const s = view.steps[id];
        return {
          id: s.id,
          node: s.node,
          type: 'worker',
          status: s.status,
          parent: s.parent,
          input: s.input,
          output: s.output,
          branch: s.branch,
          error: s.error,
          attempt: s.attempt,
          model: s.model,
          tokens_in: s.tokens_in,
          tokens_out: s.tokens_out,
          cost: s.cost,
          started_at: s.startedAt === null ? null : new Date(s.startedAt * 1000).toISOString(),
          finished_at: s.finishedAt === null ? null : new Date(s.finishedAt * 1000).toISOString(),
          duration_ms: s.duration_ms,
          retries: s.retries,
        };
      }),
    };
  }

  it('builds the same picture from a snapshot plus later events as from the whole stream', () => {
    const from = fromSnapshot(snapshotAfter(9));
    expect(from.lastSeq).toBe(9);
    expect(from.nodes.lead.children.map((c) => c.node)).toEqual(['res', 'writer']);
    // the server replays everything after ?after=9 — and a reconnect may repeat some: both are fine
    const resumed = applyEvents(from, events.slice(5));
    expect(resumed.lastSeq).toBe(full.lastSeq);
    expect(resumed.status).toBe(full.status);
    for (const node of ['brief', 'lead', 'res', 'writer', 'gate', 'out']) {
      expect(nodeStatus(resumed, node)).toBe(nodeStatus(full, node));
    }
    expect(resumed.nodes.lead.subtree).toEqual(full.nodes.lead.subtree);
    expect(resumed.nodes.lead.children).toEqual(full.nodes.lead.children);
    expect(resumed.steps['lead.writer.1'].attempt).toBe(2);
    expect(resumed.order).toEqual(full.order);
  });

  it('shows the waiting gate as the live step when the page opens after the gate stopped', () => {
    const snapshot = snapshotAfter(events.length);
    expect(snapshot.status).toBe('waiting');
    expect(fromSnapshot(snapshot).streaming).toBe('gate');
    expect(full.streaming).toBe('gate');
  });

  it('ignores events at or below the seq it already has, so nothing counts twice', () => {
    const once = applyEvents(initialRunView('run-1'), events);
    const twice = applyEvents(once, events);
    expect(twice).toBe(once);
    const chunkAgain = applyEvent(once, { ...events[4], seq: 3 });
    expect(chunkAgain.steps.lead.text).toBe('Splitting the brief.');
  });

  it('ignores events of another run', () => {
    const view = applyEvents(initialRunView('run-1'), events.slice(0, 3));
    const other = applyEvent(view, { ...events[3], run: 'run-2', seq: 99 });
    expect(other).toBe(view);
  });

  it('replays a finished run’s final state from its snapshot alone', () => {
    const detail = snapshotAfter(events.length);
    const view: RunView = fromSnapshot({ ...detail, status: 'succeeded', output: 'done', finished_at: null });
    expect(view.status).toBe('succeeded');
    expect(view.nodes.lead.subtree.cost).toBe(0.0035);
    expect(view.steps.lead.startedAt).toBe(1004);
    expect(nodeStatus(view, 'out')).toBe('idle');
    // what the retried attempt failed with, not only that there were two attempts
    expect(view.steps['lead.writer.1'].retries).toEqual([
      { attempt: 1, error: { code: 'rate_limited', message: 'slow down', retryable: true }, delay: 1, ts: 1010 },
    ]);
  });
});

describe('run reducer: streamed text, live and caught up', () => {
  type Chunk = EventDataByType['step.chunk'];
  const chunk = (data: Chunk, step = 'w', run = 'run-1'): RunEvent =>
    ({ seq: null, type: 'step.chunk', run, step, node: 'w', status: 'running', data, ts: null }) as unknown as RunEvent;
  const live = (index: number, text: string, attempt = 1, round = 0) => chunk({ text, index, attempt, round });
  const snapshot = (text: string, chunks: number, attempt = 1, round = 0, truncated = false) =>
    chunk({ text, chunks, attempt, round, truncated, snapshot: true });

  /** A run whose worker step 'w' has started (attempt 1), at seq 2. */
  function started(): RunView {
    const { events, add } = script();
    add('run.started', null, { input: null }, 'running');
    add('step.started', 'w', { attempt: 1, input: null, parent: null, round: 0 }, 'running', 'w');
    return applyEvents(initialRunView('run-1'), events);
  }

  it('appends live chunks in order, without touching the seq', () => {
    const view = applyEvents(started(), [live(0, 'Hel'), live(1, 'lo')]);
    expect(view.steps.w.text).toBe('Hello');
    expect(view.lastSeq).toBe(2);
    expect(view.streaming).toBe('w');
  });

  it('replaces the text with a snapshot, then drops the live chunks it already holds', () => {
    // a page that joined late saw only chunk 1 (and its socket delivered 2 before 3)
    const joined = applyEvents(started(), [live(1, 'lo'), snapshot('Hello', 2), live(1, 'lo'), live(2, ' wor'), live(3, 'ld')]);
    expect(joined.steps.w.text).toBe('Hello world');
    expect(joined.steps.w.stream?.chunks).toBe(4);
  });

  it('takes a fresh snapshot after a reconnect in place of what it had, not after it', () => {
    const before = applyEvents(started(), [live(0, 'Hel'), live(1, 'lo')]);
    const after = applyEvents(before, [snapshot('Hello wor', 3), live(3, 'ld')]);
    expect(after.steps.w.text).toBe('Hello world');
  });

  it('leaves the text of failed attempts in place and replaces only the current one', () => {
    const { events, add } = script();
    add('run.started', null, { input: null }, 'running');
    add('step.started', 'w', { attempt: 1, input: null, parent: null, round: 0 }, 'running', 'w');
    const first = applyEvents(initialRunView('run-1'), events);
    const withOne = applyEvent(first, live(0, 'broken'));
    const retried = applyEvents(withOne, [
      { ...events[1], seq: 3, type: 'step.retrying', data: { attempt: 1, error: { message: 'boom' }, delay: 1 } } as RunEvent,
      { ...events[1], seq: 4, data: { attempt: 2, input: null, parent: null, round: 0 } } as RunEvent,
    ]);
    const prefix = retried.steps.w.text;
    expect(prefix.startsWith('broken')).toBe(true);
    const view = applyEvents(retried, [snapshot('Fine', 1, 2), live(0, 'broken again'), live(1, ' now', 2)]);
    expect(view.steps.w.text).toBe(`${prefix}Fine now`);
  });

  it('ignores a snapshot of an earlier attempt, and one for a step that has already finished', () => {
    const { events, add } = script();
    add('run.started', null, { input: null }, 'running');
    add('step.started', 'w', { attempt: 2, input: null, parent: null, round: 0 }, 'running', 'w');
    const second = applyEvents(initialRunView('run-1'), [...events, live(0, 'two', 2)]);
    expect(applyEvent(second, snapshot('one', 5, 1))).toBe(second);
    add('step.succeeded', 'w', { ...usage(1, 1, 0), output: 'two!', attempt: 2 }, 'succeeded', 'w');
    const done = applyEvents(second, events.slice(2));
    expect(applyEvent(done, snapshot('two', 1, 2)).steps.w.text).toBe('two');
  });

  it('starts from the snapshot alone when the page was loaded from the API mid-step', () => {
    const detail: RunDetail = {
      id: 'run-1',
      status: 'running',
      input: null,
      output: null,
      error: null,
      last_seq: 2,
      steps: [
        {
          id: 'w', node: 'w', type: 'worker', status: 'running', parent: null, input: null, output: null, branch: null,
          error: null, attempt: 1, model: null, tokens_in: 0, tokens_out: 0, cost: 0, started_at: 1001, finished_at: null,
          duration_ms: null,
        },
      ],
    } as RunDetail;
    const view = applyEvents(fromSnapshot(detail), [live(4, 'ld'), snapshot('Hello wor', 4), live(3, 'wor'), live(4, 'ld')]);
    // the live chunk that came before the snapshot is superseded by it, the repeated one dropped
    expect(view.steps.w.text).toBe('Hello world');
  });

  it('marks where text is missing: a snapshot cut at the server’s limit, a chunk that never came', () => {
    const cut = applyEvents(started(), [snapshot('Hel', 5, 1, 0, true), live(5, '!')]);
    expect(cut.steps.w.text).toBe(`Hel${STREAM_GAP}!`);
    const lost = applyEvents(started(), [live(0, 'a'), live(2, 'c')]);
    expect(lost.steps.w.text).toBe(`a${STREAM_GAP}c`);
  });

  it('keeps old chunks without an index (a server before indices) appending as they come', () => {
    const view = applyEvents(started(), [chunk({ text: 'a' }), chunk({ text: 'b' })]);
    expect(view.steps.w.text).toBe('ab');
  });
});
