// The live event stream of one run, with reconnection.
//
// The server replays the stored events after `?after=<seq>` and then sends live ones, so a
// reconnect that passes the last seq we applied loses nothing and repeats nothing. Between
// attempts we wait with exponential backoff and jitter; an application close code in the
// 44xx range (no access, no such run) is final.

import { isRunEvent, type RunEvent } from './events';

export type SocketState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface RunSocketOptions {
  runId: string;
  /** The last seq applied; read on every (re)connect. */
  lastSeq: () => number;
  onEvent: (event: RunEvent) => void;
  onState?: (state: SocketState, detail?: { attempt: number; delay?: number; code?: number }) => void;
  /** When this says true after a close, we stop instead of reconnecting (the run has ended). */
  isFinished?: () => boolean;
  baseDelay?: number;
  maxDelay?: number;
  /** Seams for tests. */
  WebSocketImpl?: { new (url: string): WebSocket };
  random?: () => number;
  location?: Pick<Location, 'protocol' | 'host'>;
}

export interface RunSocket {
  close(): void;
  /** Reconnect now (e.g. the browser came back online). */
  retryNow(): void;
}

export function runSocketUrl(runId: string, after: number, loc: Pick<Location, 'protocol' | 'host'>): string {
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${loc.host}/ws/runs/${encodeURIComponent(runId)}/?after=${after}`;
}

/** Delay before reconnect attempt `attempt` (1-based): base·2^(n-1), capped, with ±25 % jitter. */
export function backoffDelay(attempt: number, base: number, max: number, random: () => number): number {
  const raw = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.75 + random() * 0.5));
}

const FATAL_CODES = new Set([4400, 4401, 4403, 4404]);
const STABLE_MS = 10_000;

export function openRunSocket(options: RunSocketOptions): RunSocket {
  const Impl = options.WebSocketImpl ?? WebSocket;
  const base = options.baseDelay ?? 500;
  const max = options.maxDelay ?? 15_000;
  const random = options.random ?? Math.random;
  const loc = options.location ?? window.location;
  let socket: WebSocket | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let attempt = 0;
  let stopped = false;
  let openedAt = 0;

  const connect = () => {
    if (stopped) return;
    timer = null;
    options.onState?.(attempt === 0 ? 'connecting' : 'reconnecting', { attempt });
    const ws = new Impl(runSocketUrl(options.runId, options.lastSeq(), loc));
    socket = ws;
    ws.onopen = () => {
      openedAt = Date.now();
      options.onState?.('open', { attempt });
    };
    ws.onmessage = (message: MessageEvent) => {
      attempt = 0; // the stream works: the next drop starts the backoff from the bottom
      let parsed: unknown;
      try {
        parsed = JSON.parse(String(message.data));
      } catch {
        return;
      }
      const batch = Array.isArray(parsed) ? parsed : [parsed];
      for (const item of batch) if (isRunEvent(item)) options.onEvent(item);
    };
    ws.onerror = () => {
      // a close event always follows; reconnection is decided there
    };
    ws.onclose = (event: CloseEvent) => {
      if (socket !== ws) return;
      socket = null;
      if (stopped) return;
      if (FATAL_CODES.has(event.code) || options.isFinished?.()) {
        stopped = true;
        options.onState?.('closed', { attempt, code: event.code });
        return;
      }
      if (openedAt && Date.now() - openedAt > STABLE_MS) attempt = 0;
      openedAt = 0;
      attempt += 1;
      const delay = backoffDelay(attempt, base, max, random);
      options.onState?.('reconnecting', { attempt, delay, code: event.code });
      timer = setTimeout(connect, delay);
    };
  };

  const onOnline = () => handle.retryNow();
  if (typeof window !== 'undefined') window.addEventListener('online', onOnline);

  const handle: RunSocket = {
    close() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      if (typeof window !== 'undefined') window.removeEventListener('online', onOnline);
      const ws = socket;
      socket = null;
      if (ws && ws.readyState <= 1) ws.close(1000);
      options.onState?.('closed', { attempt });
    },
    retryNow() {
      if (stopped || socket) return;
      if (timer) clearTimeout(timer);
      connect();
    },
  };
  connect();
  return handle;
}
