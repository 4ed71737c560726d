import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RunEvent } from './events';
import { backoffDelay, openRunSocket, runSocketUrl, wholeInOrder, type SocketState } from './runSocket';
import { FakeSocket } from '../test/fakeSocket';

const event = (seq: number): RunEvent =>
  ({ seq, type: 'step.chunk', run: 'r1', step: 's', node: 'n', status: 'running', data: { text: `${seq}` }, ts: seq }) as RunEvent;

beforeEach(() => {
  FakeSocket.made = [];
  vi.useFakeTimers();
});
afterEach(() => vi.useRealTimers());

function open(finished = () => false) {
  let lastSeq = 0;
  const got: number[] = [];
  const states: SocketState[] = [];
  const socket = openRunSocket({
    runId: 'r1',
    lastSeq: () => lastSeq,
    onEvent: (e) => {
      // a streamed chunk (seq null) is passed on but moves no seq: recorded as -1
      got.push(e.seq ?? -1);
      lastSeq = e.seq ?? lastSeq;
    },
    onState: (s) => states.push(s),
    isFinished: finished,
    WebSocketImpl: FakeSocket.impl,
    random: () => 0.5, // no jitter
    location: { protocol: 'https:', host: 'flows.example' },
  });
  return { socket, got, states };
}

describe('run socket', () => {
  it('builds the URL with the scheme of the page and the seq to resume after', () => {
    expect(runSocketUrl('r1', 7, { protocol: 'http:', host: 'localhost:8000' })).toBe('ws://localhost:8000/ws/runs/r1/?after=7');
    expect(runSocketUrl('r1', 0, { protocol: 'https:', host: 'x.io' })).toBe('wss://x.io/ws/runs/r1/?after=0');
  });

  it('reconnects after a drop, asking for events after the last seq it applied', () => {
    const { got, states } = open();
    FakeSocket.made[0].open();
    FakeSocket.made[0].deliver(event(1));
    FakeSocket.made[0].deliver(event(2));
    FakeSocket.made[0].drop();
    expect(states.at(-1)).toBe('reconnecting');
    expect(FakeSocket.made).toHaveLength(1);
    vi.advanceTimersByTime(499);
    expect(FakeSocket.made).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.made).toHaveLength(2);
    expect(FakeSocket.made[1].url).toBe('wss://flows.example/ws/runs/r1/?after=2');
    FakeSocket.made[1].open();
    FakeSocket.made[1].deliver(event(3));
    expect(got).toEqual([1, 2, 3]);
    expect(states).toContain('open');
  });

  it('passes streamed chunks on although they carry no seq; other events without one are not', () => {
    const { got } = open();
    FakeSocket.made[0].open();
    FakeSocket.made[0].deliver(event(1));
    FakeSocket.made[0].deliver({ ...event(1), seq: null, data: { text: 'Hel', attempt: 1, round: 0, index: 0 } } as RunEvent);
    FakeSocket.made[0].deliver({ ...event(1), seq: null, type: 'step.succeeded' } as unknown as RunEvent);
    FakeSocket.made[0].deliver(event(2));
    expect(got).toEqual([1, -1, 2]);
  });

  it('backs off exponentially while the server stays away, up to a ceiling', () => {
    open();
    const delays: number[] = [];
    for (let attempt = 0; attempt < 7; attempt += 1) {
      const before = FakeSocket.made.length;
      FakeSocket.made.at(-1)!.drop();
      let waited = 0;
      while (FakeSocket.made.length === before) {
        vi.advanceTimersByTime(100);
        waited += 100;
      }
      delays.push(waited);
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000]);
  });

  it('starts the backoff from the bottom again once events flow', () => {
    open();
    FakeSocket.made[0].drop();
    vi.advanceTimersByTime(500);
    FakeSocket.made[1].drop();
    vi.advanceTimersByTime(1000);
    FakeSocket.made[2].open();
    FakeSocket.made[2].deliver(event(1));
    FakeSocket.made[2].drop();
    vi.advanceTimersByTime(500);
    expect(FakeSocket.made).toHaveLength(4);
  });

  it('stops when the run has finished, or the server says no', () => {
    let done = false;
    const first = open(() => done);
    done = true;
    FakeSocket.made[0].drop(1000);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.made).toHaveLength(1);
    expect(first.states.at(-1)).toBe('closed');

    FakeSocket.made = [];
    const denied = open();
    FakeSocket.made[0].drop(4403);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.made).toHaveLength(1);
    expect(denied.states.at(-1)).toBe('closed');
  });

  it('closes cleanly when asked and does not come back', () => {
    const { socket } = open();
    FakeSocket.made[0].open();
    socket.close();
    expect(FakeSocket.made[0].closedWith).toBe(1000);
    FakeSocket.made[0].drop(1000);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.made).toHaveLength(1);
  });

  it('accepts batches and skips what is not an event', () => {
    const { got } = open();
    const ws = FakeSocket.made[0];
    ws.onmessage?.({ data: JSON.stringify([event(1), event(2)]) });
    ws.onmessage?.({ data: 'not json' });
    ws.onmessage?.({ data: JSON.stringify({ type: 'ping' }) });
    expect(got).toEqual([1, 2]);
  });

  it('adds ±25 % jitter to the delay', () => {
    expect(backoffDelay(1, 500, 15000, () => 0)).toBe(375);
    expect(backoffDelay(1, 500, 15000, () => 1)).toBe(625);
    expect(backoffDelay(10, 500, 15000, () => 0.5)).toBe(15000);
  });
});

describe('clipped events', () => {
  it('reads a clipped event whole and keeps the events after it waiting, in order', async () => {
    vi.useRealTimers();
    const got: RunEvent[] = [];
    let answer: (event: RunEvent) => void = () => undefined;
    const asked: number[] = [];
    const fetchEvent = (_run: string, seq: number) => {
      asked.push(seq);
      return new Promise<RunEvent | null>((done) => {
        answer = done;
      });
    };
    const take = wholeInOrder('r1', (e) => got.push(e), fetchEvent);
    take(event(1));
    take({ ...event(2), data: {}, clipped: 2_000_000 } as RunEvent);
    take(event(3));
    await Promise.resolve();
    expect(got.map((e) => e.seq)).toEqual([1]);
    expect(asked).toEqual([2]);
    answer({ ...event(2), data: { text: 'the whole of it' } } as RunEvent);
    await vi.waitFor(() => expect(got.map((e) => e.seq)).toEqual([1, 2, 3]));
    expect((got[1].data as { text: string }).text).toBe('the whole of it');
    take(event(4)); // nothing waiting any more: at once
    expect(got.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });

  it('passes a clipped event on as it came when it cannot be read', async () => {
    vi.useRealTimers();
    const got: RunEvent[] = [];
    let tries = 0;
    const take = wholeInOrder(
      'r1',
      (e) => got.push(e),
      async () => {
        tries += 1;
        throw new Error('offline');
      },
      1,
    );
    take({ ...event(1), data: {}, clipped: 2_000_000 } as RunEvent);
    take(event(2));
    await vi.waitFor(() => expect(got.map((e) => e.seq)).toEqual([1, 2]));
    expect(tries).toBe(3);
    expect(got[0].clipped).toBe(2_000_000);
  });
});
