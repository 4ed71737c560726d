import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { KnowledgeDocument } from './knowledge';
import { isKnowledgeMessage, openKnowledgeSocket, patched, type KnowledgeMessage } from './knowledgeSocket';
import { FakeSocket } from '../test/fakeSocket';

beforeEach(() => {
  FakeSocket.made = [];
  vi.useFakeTimers();
});
afterEach(() => vi.useRealTimers());

function open() {
  const got: KnowledgeMessage[] = [];
  const live: boolean[] = [];
  const socket = openKnowledgeSocket({
    baseId: 'b 1',
    onMessage: (m) => got.push(m),
    onLive: (value) => live.push(value),
    WebSocketImpl: FakeSocket.impl,
    location: { protocol: 'http:', host: 'localhost:8000' },
  });
  return { socket, got, live };
}

const doc = (id: string, extra: Partial<KnowledgeDocument> = {}) =>
  ({ id, name: `${id}.md`, status: 'queued', chunks_done: 0, chunks_total: 0, ...extra }) as KnowledgeDocument;

describe('knowledge socket', () => {
  it("is live from the server's ready on, and passes progress on", () => {
    const { got, live } = open();
    expect(FakeSocket.made[0].url).toBe('ws://localhost:8000/ws/knowledge/b%201/');
    FakeSocket.made[0].open();
    expect(live).toEqual([false]); // opened, not yet known to be a member
    FakeSocket.made[0].deliver({ type: 'ready' });
    expect(live.at(-1)).toBe(true);
    FakeSocket.made[0].deliver({ type: 'document.progress', document: { id: 'd1', status: 'embedding', chunks_done: 32 } });
    FakeSocket.made[0].deliver({ type: 'document.progress', document: { status: 'ready' } });
    FakeSocket.made[0].deliver({ type: 'documents.changed' });
    expect(got.map((m) => m.type)).toEqual(['ready', 'document.progress', 'documents.changed']);
  });

  it('is not live while reconnecting or refused', () => {
    const { live } = open();
    FakeSocket.made[0].open();
    FakeSocket.made[0].deliver({ type: 'ready' });
    FakeSocket.made[0].drop();
    expect(live.at(-1)).toBe(false);
    vi.advanceTimersByTime(2000);
    FakeSocket.made[1].open();
    FakeSocket.made[1].drop(4403);
    expect(live.at(-1)).toBe(false);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.made).toHaveLength(2);
  });

  it('patches a known document and says when one is unknown', () => {
    const list = [doc('a'), doc('b')];
    const next = patched(list, { id: 'b', status: 'embedding', chunks_done: 3, chunks_total: 9 });
    expect(next?.[1]).toMatchObject({ name: 'b.md', status: 'embedding', chunks_done: 3, chunks_total: 9 });
    expect(list[1].status).toBe('queued');
    expect(patched(list, { id: 'c', status: 'ready' })).toBeNull();
    expect(isKnowledgeMessage({ type: 'document.progress', document: { id: 7 } })).toBe(false);
  });
});
