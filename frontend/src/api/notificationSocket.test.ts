import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { approvalFixture } from '../test/fixtures';
import { isNotification, notificationSocketUrl, openNotificationSocket, type NotificationMessage } from './notificationSocket';
import { FakeSocket } from '../test/fakeSocket';

beforeEach(() => {
  FakeSocket.made = [];
  vi.useFakeTimers();
});
afterEach(() => vi.useRealTimers());

function open() {
  const got: NotificationMessage[] = [];
  const states: { state: string; reconnected?: boolean; delay?: number }[] = [];
  const socket = openNotificationSocket({
    onMessage: (m) => got.push(m),
    onState: (state, detail) => states.push({ state, reconnected: detail.reconnected, delay: detail.delay }),
    WebSocketImpl: FakeSocket.impl,
    random: () => 0.5,
    baseDelay: 1000,
    location: { protocol: 'https:', host: 'flows.example' },
  });
  return { socket, got, states };
}

describe('notification socket', () => {
  it('connects to the per-user stream and passes approval messages on', () => {
    expect(notificationSocketUrl({ protocol: 'http:', host: 'localhost:8000' })).toBe('ws://localhost:8000/ws/notifications/');
    const { got } = open();
    expect(FakeSocket.made[0].url).toBe('wss://flows.example/ws/notifications/');
    FakeSocket.made[0].open();
    FakeSocket.made[0].deliver({ type: 'approval.opened', approval: approvalFixture() });
    FakeSocket.made[0].deliver({ type: 'something.else' });
    FakeSocket.made[0].deliver('not json');
    FakeSocket.made[0].deliver([{ type: 'approval.decided', approval: approvalFixture({ status: 'approved' }) }]);
    expect(got.map((m) => m.type)).toEqual(['approval.opened', 'approval.decided']);
    expect(isNotification({ type: 'approval.opened' })).toBe(false);
  });

  it('reconnects with backoff and says when it is back (to refetch)', () => {
    const { states, socket } = open();
    FakeSocket.made[0].open();
    FakeSocket.made[0].drop();
    expect(states.at(-1)).toMatchObject({ state: 'reconnecting', delay: 1000 });
    vi.advanceTimersByTime(999);
    expect(FakeSocket.made).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.made).toHaveLength(2);
    FakeSocket.made[1].drop();
    expect(states.at(-1)).toMatchObject({ state: 'reconnecting', delay: 2000 });
    vi.advanceTimersByTime(2000);
    FakeSocket.made[2].open();
    expect(states.at(-1)).toMatchObject({ state: 'open', reconnected: true });
    socket.close();
    expect(FakeSocket.made[2].closedWith).toBe(1000);
  });

  it('stops on an application close code (signed out)', () => {
    const { states } = open();
    FakeSocket.made[0].drop(4401);
    expect(states.at(-1)?.state).toBe('closed');
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.made).toHaveLength(1);
  });
});
