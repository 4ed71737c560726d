// The live event stream of one run, with reconnection (see reconnectingSocket.ts).
//
// The server replays the stored events after `?after=<seq>` and then sends live ones, so a
// reconnect that passes the last seq we applied loses nothing and repeats nothing.

import { isRunEvent, type RunEvent } from './events';
import { api } from './resources';
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
  /** Reads an event the server sent clipped (default: the events API). Seam for tests. */
  fetchEvent?: (runId: string, seq: number) => Promise<RunEvent | null>;
  /** Seams for tests. */
  WebSocketImpl?: { new (url: string): WebSocket };
  random?: () => number;
  location?: Pick<Location, 'protocol' | 'host'>;
}

export type RunSocket = ReconnectingSocket;

export function runSocketUrl(runId: string, after: number, loc: Pick<Location, 'protocol' | 'host'>): string {
  return wsUrl(`/ws/runs/${encodeURIComponent(runId)}/?after=${after}`, loc);
}

/**
 * Passes events on in the order they came, an event the server sent clipped (too long for a
 * WebSocket message: a map's output of thousands of items) read whole first, the events after it
 * waiting meanwhile. One that cannot be read after a few tries goes on as it came (no data).
 */
export function wholeInOrder(
  runId: string,
  onEvent: (event: RunEvent) => void,
  fetchEvent: (runId: string, seq: number) => Promise<RunEvent | null>,
  retryMs = 1_000,
): (event: RunEvent) => void {
  let chain: Promise<void> = Promise.resolve();
  let waiting = 0;
  const whole = async (event: RunEvent): Promise<RunEvent> => {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      if (attempt) await new Promise((done) => setTimeout(done, retryMs * attempt));
      try {
        const found = await fetchEvent(runId, event.seq as number);
        if (found) return found;
      } catch {
        // tried again below
      }
    }
    return event;
  };
  return (event) => {
    if (!event.clipped && waiting === 0) {
      onEvent(event);
      return;
    }
    waiting += 1;
    const ready = event.clipped && typeof event.seq === 'number' ? whole(event) : Promise.resolve(event);
    chain = chain
      .then(() => ready)
      .then((full) => {
        waiting -= 1;
        onEvent(full);
      });
  };
}

export function openRunSocket(options: RunSocketOptions): RunSocket {
  const loc = options.location ?? window.location;
  return openReconnectingSocket<RunEvent>({
    url: () => runSocketUrl(options.runId, options.lastSeq(), loc),
    accept: isRunEvent,
    onMessage: wholeInOrder(options.runId, options.onEvent, options.fetchEvent ?? api.getRunEvent),
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
