import { describe, expect, it } from 'vitest';
import type { Approval } from '../api/approvals';
import type { Page } from '../api/resources';
import { approvalFixture } from '../test/fixtures';
import { awaitsMe, badgeCount, badgeText, inboxReducer, initialInbox, shouldNotify, type InboxState } from './inbox';

const page = (results: Approval[], count = results.length, next: string | null = null): Page<Approval> => ({
  count,
  next,
  previous: null,
  results,
});

const a1 = approvalFixture({ id: 'a1' });
const a2 = approvalFixture({ id: 'a2', workflow: { id: 'wf-2', name: 'Invoices' } });

function loaded(results: Approval[], count?: number, next: string | null = null): InboxState {
  return inboxReducer(inboxReducer(initialInbox, { type: 'loading' }), { type: 'loaded', page: page(results, count, next) });
}

describe('approvals inbox reducer and badge', () => {
  it('loads the first page and counts the server total', () => {
    expect(inboxReducer(initialInbox, { type: 'loading' }).status).toBe('loading');
    const state = loaded([a1, a2], 7, '/api/approvals/?page=2');
    expect(state.status).toBe('ready');
    expect(state.items.map((a) => a.id)).toEqual(['a1', 'a2']);
    expect(badgeCount(state)).toBe(7);
    expect(state.next).toBe('/api/approvals/?page=2');
  });

  it('adds an opened approval once, and notifies only for new ones', () => {
    let state = loaded([a1]);
    const opened = approvalFixture({ id: 'a3' });
    expect(shouldNotify(state, opened)).toBe(true);
    state = inboxReducer(state, { type: 'opened', approval: opened });
    expect(state.items[0].id).toBe('a3');
    expect(badgeCount(state)).toBe(2);
    // the same message again (a reconnect, two tabs): no double count, no second toast
    expect(shouldNotify(state, opened)).toBe(false);
    state = inboxReducer(state, { type: 'opened', approval: opened });
    expect(badgeCount(state)).toBe(2);
  });

  it('ignores approvals I cannot decide', () => {
    const state = loaded([a1]);
    const notMine = approvalFixture({ id: 'a9', can_decide: false });
    expect(awaitsMe(notMine)).toBe(false);
    expect(shouldNotify(state, notMine)).toBe(false);
    expect(badgeCount(inboxReducer(state, { type: 'opened', approval: notMine }))).toBe(1);
  });

  it('removes a decided approval and lowers the badge', () => {
    let state = loaded([a1, a2]);
    state = inboxReducer(state, { type: 'decided', approval: { ...a1, status: 'approved', can_decide: false } });
    expect(state.items.map((a) => a.id)).toEqual(['a2']);
    expect(badgeCount(state)).toBe(1);
    state = inboxReducer(state, { type: 'decided', approval: { ...a2, status: 'expired' } });
    expect(badgeCount(state)).toBe(0);
    expect(state.stale).toBe(false);
  });

  it('keeps a pending approval that still needs me after someone else decided (quorum)', () => {
    let state = loaded([a1]);
    const progressed = { ...a1, approvals: 1, decisions: [...a1.decisions] };
    state = inboxReducer(state, { type: 'decided', approval: progressed });
    expect(state.items).toHaveLength(1);
    expect(badgeCount(state)).toBe(1);
    // my own approve of a 2-quorum gate: still pending, but no longer mine to decide
    state = inboxReducer(state, { type: 'decided', approval: { ...a1, can_decide: false } });
    expect(badgeCount(state)).toBe(0);
  });

  it('marks the count stale when an unloaded approval is decided', () => {
    let state = loaded([a1], 3, '/api/approvals/?page=2');
    state = inboxReducer(state, { type: 'decided', approval: approvalFixture({ id: 'far', status: 'approved' }) });
    expect(state.stale).toBe(true);
    expect(badgeCount(state)).toBe(3);
    // a fresh load clears it
    expect(inboxReducer(state, { type: 'loaded', page: page([a1], 2) }).stale).toBe(false);
  });

  it('appends further pages without duplicates and keeps the list on a failed refresh', () => {
    let state = loaded([a1], 2, 'next');
    state = inboxReducer(state, { type: 'more', page: page([a1, a2], 2) });
    expect(state.items.map((a) => a.id)).toEqual(['a1', 'a2']);
    expect(state.next).toBeNull();
    state = inboxReducer(state, { type: 'failed', error: 'offline' });
    expect(state.status).toBe('ready');
    expect(inboxReducer(initialInbox, { type: 'failed', error: 'offline' })).toMatchObject({ status: 'error', error: 'offline' });
  });

  it('writes big counts short', () => {
    expect(badgeText(3)).toBe('3');
    expect(badgeText(120)).toBe('99+');
  });
});
