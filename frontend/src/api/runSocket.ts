// The live event stream of one run, with reconnection (see reconnectingSocket.ts).
//
// The server replays the stored events after `?after=<seq>` and then sends live ones, so a
// reconnect that passes the last seq we applied loses nothing and repeats nothing.

import { isRunEvent, type RunEvent } from './events';
import {
  openReconnectingSocket,
  wsUrl,
  type ReconnectingSocket,
  type SocketState,
  type StateDetail,
} from './reconnectingSocket';

export type { SocketState } from './reconnectingSocket';
export { backoffDelay } from './reconnectingSocket';

export interface RunSocketOptions {
  runId: string;
  /** How often to ask the server for events a lost broadcast kept from us (ms). */
  keepAliveMs?: number;
  /** The last seq applied; read on every (re)connect. */
  lastSeq: () => number;
  onEvent: (event: RunEvent) => void;
  onState?: (state: SocketState, detail?: StateDetail) => void;
  /** When this says true after a close, we stop instead of reconnecting (the run has ended). */
  isFinished?: () => boolean;
  baseDelay?: number;
  maxDelay?: number;
  /** Seams for tests. */
  WebSocketImpl?: { new (url: string): WebSocket };
  random?: () => number;
  location?: Pick<Location, 'protocol' | 'host'>;
}

export type RunSocket = ReconnectingSocket;

export function runSocketUrl(runId: string, after: number, loc: Pick<Location, 'protocol' | 'host'>): string {
  return wsUrl(`/ws/runs/${encodeURIComponent(runId)}/?after=${after}`, loc);
}

export function openRunSocket(options: RunSocketOptions): RunSocket {
  const loc = options.location ?? window.location;
  return openReconnectingSocket<RunEvent>({
    url: () => runSocketUrl(options.runId, options.lastSeq(), loc),
    accept: isRunEvent,
    onMessage: options.onEvent,
    onState: options.onState,
    isFinished: options.isFinished,
    resetOnMessage: true,
    reportClose: true,
    baseDelay: options.baseDelay ?? 500,
    maxDelay: options.maxDelay ?? 15_000,
    // The server answers a ping by sending what it committed after our last seq: a broadcast
    // lost on the way (a full channel) is repaired within this time instead of never.
    keepAliveMs: options.keepAliveMs ?? 5_000,
    WebSocketImpl: options.WebSocketImpl,
    random: options.random,
  });
}
