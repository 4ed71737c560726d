// The approvals waiting for me, as a pure reducer: the first page(s) from
// GET /api/approvals/?status=pending&mine=1, then kept current by the notification socket
// (approval.opened / approval.decided) and by my own decisions. The header badge is `badgeCount`.

import type { Approval } from '../api/approvals';
import type { Page } from '../api/resources';

export interface InboxState {
  status: 'idle' | 'loading' | 'ready' | 'error';
  error: string | null;
  /** pending approvals I may decide, in the server's order (new ones first) */
  items: Approval[];
  /** the server's total, adjusted by live messages */
  count: number;
  next: string | null;
  /** an approval that left the list was not among the loaded ones: the count may be stale */
  stale: boolean;
}

export type InboxAction =
  | { type: 'loading' }
  | { type: 'loaded'; page: Page<Approval> }
  | { type: 'more'; page: Page<Approval> }
  | { type: 'failed'; error: string }
  | { type: 'opened'; approval: Approval }
  | { type: 'decided'; approval: Approval };

export const initialInbox: InboxState = { status: 'idle', error: null, items: [], count: 0, next: null, stale: false };

/** Pending and mine to decide: belongs in the inbox. */
export function awaitsMe(approval: Approval): boolean {
  return approval.status === 'pending' && approval.can_decide !== false;
}

function sameId(a: { id: string | number }, b: { id: string | number }): boolean {
  return String(a.id) === String(b.id);
}

export function isKnown(state: InboxState, approval: Approval): boolean {
  return state.items.some((item) => sameId(item, approval));
}

/** True when an approval.opened message should raise a toast: new to me and mine to decide. */
export function shouldNotify(state: InboxState, approval: Approval): boolean {
  return awaitsMe(approval) && !isKnown(state, approval);
}

function upsert(state: InboxState, approval: Approval): InboxState {
  if (!awaitsMe(approval)) return remove(state, approval);
  if (isKnown(state, approval)) {
    return { ...state, items: state.items.map((item) => (sameId(item, approval) ? approval : item)) };
  }
  return { ...state, items: [approval, ...state.items], count: state.count + 1 };
}

function remove(state: InboxState, approval: Approval): InboxState {
  if (isKnown(state, approval)) {
    return { ...state, items: state.items.filter((item) => !sameId(item, approval)), count: Math.max(0, state.count - 1) };
  }
  // maybe on a page not loaded yet (or never mine): only the server knows
  return state.count > state.items.length ? { ...state, stale: true } : state;
}

function merge(items: Approval[], more: Approval[]): Approval[] {
  const seen = new Set(items.map((item) => String(item.id)));
  return [...items, ...more.filter((item) => !seen.has(String(item.id)))];
}

export function inboxReducer(state: InboxState, action: InboxAction): InboxState {
  switch (action.type) {
    case 'loading':
      return { ...state, status: state.status === 'ready' ? 'ready' : 'loading', error: null };
    case 'loaded': {
      const items = action.page.results.filter(awaitsMe);
      return {
        status: 'ready',
        error: null,
        items,
        count: Math.max(action.page.count - (action.page.results.length - items.length), items.length),
        next: action.page.next,
        stale: false,
      };
    }
    case 'more':
      return { ...state, items: merge(state.items, action.page.results.filter(awaitsMe)), next: action.page.next };
    case 'failed':
      return { ...state, status: state.status === 'ready' ? 'ready' : 'error', error: action.error };
    case 'opened':
    case 'decided':
      return upsert(state, action.approval);
  }
}

/** The number on the header badge. */
export function badgeCount(state: InboxState): number {
  return Math.max(state.count, state.items.length);
}

export function badgeText(count: number): string {
  return count > 99 ? '99+' : String(count);
}
