import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeSocket } from '../test/fakeSocket';
import { openReconnectingSocket } from './reconnectingSocket';

beforeEach(() => {
  FakeSocket.made = [];
  vi.useFakeTimers();
});
afterEach(() => vi.useRealTimers());

function open(keepAliveMs?: number) {
  return openReconnectingSocket<unknown>({
    url: () => 'ws://x/ws',
    accept: (_value): _value is unknown => true,
    onMessage: () => {},
    baseDelay: 100,
    maxDelay: 1000,
    keepAliveMs,
    random: () => 0.5,
    WebSocketImpl: FakeSocket.impl,
  });
}

describe('keep-alive pings', () => {
  it('pings while open, and stops when the socket drops or is closed', () => {
    const socket = open(5000);
    const first = FakeSocket.made[0];
    vi.advanceTimersByTime(6000);
    expect(first.sent).toEqual([]); // not open yet: nothing to ping on
    first.open();
    vi.advanceTimersByTime(10_500);
    expect(first.sent).toEqual(['{"type":"ping"}', '{"type":"ping"}']);

    first.drop();
    vi.advanceTimersByTime(10_000);
    expect(first.sent).toHaveLength(2); // no pings into a dropped socket
    const second = FakeSocket.made[1];
    second.open();
    vi.advanceTimersByTime(5000);
    expect(second.sent).toEqual(['{"type":"ping"}']);

    socket.close();
    vi.advanceTimersByTime(20_000);
    expect(second.sent).toHaveLength(1);
  });

  it('sends nothing without keepAliveMs', () => {
    open();
    FakeSocket.made[0].open();
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.made[0].sent).toEqual([]);
  });
});
