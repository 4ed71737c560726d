// Undo/redo as a pure store of snapshots (the graph JSON before each change).
//
// `record` is called with the state *before* a change. Changes that carry the same coalescing
// key within `window` ms (typing into one field, nudging one node with the arrow keys) become one
// undo step, so undo jumps back over the whole edit instead of one keystroke.

export interface HistoryState<T> {
  past: T[];
  future: T[];
  lastKey: string | null;
  lastAt: number;
  limit: number;
}

export function createHistory<T>(limit = 100): HistoryState<T> {
  return { past: [], future: [], lastKey: null, lastAt: 0, limit };
}

export const COALESCE_WINDOW_MS = 1000;

export function record<T>(
  history: HistoryState<T>,
  before: T,
  key: string | null = null,
  now: number = Date.now(),
  window: number = COALESCE_WINDOW_MS,
): HistoryState<T> {
  if (key !== null && key === history.lastKey && now - history.lastAt <= window && history.past.length) {
    // same edit continuing: keep the snapshot from before it began
    return { ...history, future: [], lastAt: now };
  }
  const past = [...history.past, before];
  if (past.length > history.limit) past.splice(0, past.length - history.limit);
  return { ...history, past, future: [], lastKey: key, lastAt: now };
}

export function undo<T>(history: HistoryState<T>, current: T): { history: HistoryState<T>; state: T } | null {
  if (!history.past.length) return null;
  const past = history.past.slice(0, -1);
  const state = history.past[history.past.length - 1];
  return { history: { ...history, past, future: [current, ...history.future], lastKey: null }, state };
}

export function redo<T>(history: HistoryState<T>, current: T): { history: HistoryState<T>; state: T } | null {
  if (!history.future.length) return null;
  const [state, ...future] = history.future;
  return { history: { ...history, past: [...history.past, current], future, lastKey: null }, state };
}

export function canUndo<T>(history: HistoryState<T>): boolean {
  return history.past.length > 0;
}

export function canRedo<T>(history: HistoryState<T>): boolean {
  return history.future.length > 0;
}
