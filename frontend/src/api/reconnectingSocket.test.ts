import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openReconnectingSocket } from './reconnectingSocket';

/** A WebSocket stand-in that records what the client sends. */
class RecordingSocket {
  static made: RecordingSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  constructor(readonly url: string) {
    RecordingSocket.made.push(this);
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  send(frame: string) {
    this.sent.push(frame);
  }
  drop() {
    this.readyState = 3;
    this.onclose?.({ code: 1006 });
  }
  close() {
    this.readyState = 3;
  }
}

beforeEach(() => {
  RecordingSocket.made = [];
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
    WebSocketImpl: RecordingSocket as unknown as { new (url: string): WebSocket },
  });
}

describe('keep-alive pings', () => {
  it('pings while open, and stops when the socket drops or is closed', () => {
    const socket = open(5000);
    const first = RecordingSocket.made[0];
    vi.advanceTimersByTime(6000);
    expect(first.sent).toEqual([]); // not open yet: nothing to ping on
    first.open();
    vi.advanceTimersByTime(10_500);
    expect(first.sent).toEqual(['{"type":"ping"}', '{"type":"ping"}']);

    first.drop();
    vi.advanceTimersByTime(10_000);
    expect(first.sent).toHaveLength(2); // no pings into a dropped socket
    const second = RecordingSocket.made[1];
    second.open();
    vi.advanceTimersByTime(5000);
    expect(second.sent).toEqual(['{"type":"ping"}']);

    socket.close();
    vi.advanceTimersByTime(20_000);
    expect(second.sent).toHaveLength(1);
  });

  it('sends nothing without keepAliveMs', () => {
    open();
    RecordingSocket.made[0].open();
    vi.advanceTimersByTime(60_000);
    expect(RecordingSocket.made[0].sent).toEqual([]);
  });
});
