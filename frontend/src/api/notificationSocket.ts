// The signed-in user's notification stream (/ws/notifications/): approvals opened for me and
// approvals decided. Reconnects with the same backoff as the run socket; a 44xx close is final.
// Nothing is replayed after a drop, so `onState('open', {reconnected: true})` tells the caller
// to fetch the current state again.

import type { Approval } from './approvals';
import { backoffDelay, type SocketState } from './runSocket';

export type NotificationMessage =
  | { type: 'approval.opened'; approval: Approval }
  | { type: 'approval.decided'; approval: Approval };

export function isNotification(value: unknown): value is NotificationMessage {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { type?: unknown; approval?: unknown };
  return (
    (v.type === 'approval.opened' || v.type === 'approval.decided') &&
    typeof v.approval === 'object' &&
    v.approval !== null &&
    (typeof (v.approval as { id?: unknown }).id === 'string' || typeof (v.approval as { id?: unknown }).id === 'number')
  );
}

export function notificationSocketUrl(loc: Pick<Location, 'protocol' | 'host'>): string {
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${loc.host}/ws/notifications/`;
}

export interface NotificationSocketOptions {
  onMessage: (message: NotificationMessage) => void;
  onState?: (state: SocketState, detail: { attempt: number; delay?: number; code?: number; reconnected?: boolean }) => void;
  baseDelay?: number;
  maxDelay?: number;
  WebSocketImpl?: { new (url: string): WebSocket };
  random?: () => number;
  location?: Pick<Location, 'protocol' | 'host'>;
}

export interface NotificationSocket {
  close(): void;
  retryNow(): void;
}

const FATAL_CODES = new Set([4400, 4401, 4403, 4404]);
const STABLE_MS = 10_000;

export function openNotificationSocket(options: NotificationSocketOptions): NotificationSocket {
  const Impl = options.WebSocketImpl ?? WebSocket;
  const base = options.baseDelay ?? 1000;
  const max = options.maxDelay ?? 30_000;
  const random = options.random ?? Math.random;
  const loc = options.location ?? window.location;
  let socket: WebSocket | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let attempt = 0;
  let stopped = false;
  let openedAt = 0;
  let everOpened = false;

  const connect = () => {
    if (stopped) return;
    timer = null;
    options.onState?.(attempt === 0 ? 'connecting' : 'reconnecting', { attempt });
    let ws: WebSocket;
    try {
      ws = new Impl(notificationSocketUrl(loc));
    } catch {
      stopped = true;
      options.onState?.('closed', { attempt });
      return;
    }
    socket = ws;
    ws.onopen = () => {
      openedAt = Date.now();
      options.onState?.('open', { attempt, reconnected: everOpened });
      everOpened = true;
    };
    ws.onmessage = (message: MessageEvent) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(String(message.data));
      } catch {
        return;
      }
      const batch = Array.isArray(parsed) ? parsed : [parsed];
      for (const item of batch) if (isNotification(item)) options.onMessage(item);
    };
    ws.onerror = () => {
      // a close event follows
    };
    ws.onclose = (event: CloseEvent) => {
      if (socket !== ws) return;
      socket = null;
      if (stopped) return;
      if (FATAL_CODES.has(event.code)) {
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

  const handle: NotificationSocket = {
    close() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      if (typeof window !== 'undefined') window.removeEventListener('online', onOnline);
      const ws = socket;
      socket = null;
      if (ws && ws.readyState <= 1) ws.close(1000);
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
