// The signed-in user's notification stream (/ws/notifications/): approvals opened for me and
// approvals decided, over the shared reconnecting socket (reconnectingSocket.ts).
// Nothing is replayed after a drop, so `onState('open', {reconnected: true})` tells the caller
// to fetch the current state again.

import type { Approval } from './approvals';
import {
  openReconnectingSocket,
  wsUrl,
  type ReconnectingSocket,
  type SocketState,
  type StateDetail,
} from './reconnectingSocket';

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
  return wsUrl('/ws/notifications/', loc);
}

export interface NotificationSocketOptions {
  onMessage: (message: NotificationMessage) => void;
  onState?: (state: SocketState, detail: StateDetail) => void;
  baseDelay?: number;
  maxDelay?: number;
  WebSocketImpl?: { new (url: string): WebSocket };
  random?: () => number;
  location?: Pick<Location, 'protocol' | 'host'>;
}

export type NotificationSocket = ReconnectingSocket;

export function openNotificationSocket(options: NotificationSocketOptions): NotificationSocket {
  const loc = options.location ?? window.location;
  return openReconnectingSocket<NotificationMessage>({
    url: () => notificationSocketUrl(loc),
    accept: isNotification,
    onMessage: options.onMessage,
    onState: options.onState,
    baseDelay: options.baseDelay ?? 1000,
    maxDelay: options.maxDelay ?? 30_000,
    WebSocketImpl: options.WebSocketImpl,
    random: options.random,
  });
}
