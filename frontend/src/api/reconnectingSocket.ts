// A WebSocket that reconnects: the one mechanism behind the run socket and the notification
// socket. Between attempts it waits with exponential backoff and jitter; an application close
// code in the 44xx range (bad request, no access, no such thing) is final; a connection that
// stayed up for a while starts the backoff from the bottom again.

export type SocketState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface StateDetail {
  attempt: number;
  delay?: number;
  code?: number;
  /** On 'open': whether a connection had been open before (nothing was replayed meanwhile). */
  reconnected?: boolean;
}

export interface ReconnectingSocketOptions<T> {
  /** Read on every (re)connect, so it may carry state such as the last seq seen. */
  url: () => string;
  /** Keeps only the messages of the expected shape; a message may also be a list of them. */
  accept: (value: unknown) => value is T;
  onMessage: (message: T) => void;
  onState?: (state: SocketState, detail: StateDetail) => void;
  /** When this says true after a close, stop instead of reconnecting. */
  isFinished?: () => boolean;
  /** Any message proves the stream works: the next drop backs off from the bottom. */
  resetOnMessage?: boolean;
  /** Report 'closed' when the caller closes the socket too. */
  reportClose?: boolean;
  baseDelay: number;
  maxDelay: number;
  /** While open, send {"type": "ping"} this often: the server answers and, for a run, sends any
   * event it committed that a lost broadcast kept from this socket. */
  keepAliveMs?: number;
  /** Seams for tests. */
  WebSocketImpl?: { new (url: string): WebSocket };
  random?: () => number;
}

export interface ReconnectingSocket {
  close(): void;
  /** Reconnect now (e.g. the browser came back online). */
  retryNow(): void;
}

/** Delay before reconnect attempt `attempt` (1-based): base·2^(n-1), capped, with ±25 % jitter. */
export function backoffDelay(attempt: number, base: number, max: number, random: () => number): number {
  const raw = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.75 + random() * 0.5));
}

export function wsUrl(path: string, loc: Pick<Location, 'protocol' | 'host'>): string {
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${loc.host}${path}`;
}

const FATAL_CODES = new Set([4400, 4401, 4403, 4404]);
const STABLE_MS = 10_000;

export function openReconnectingSocket<T>(options: ReconnectingSocketOptions<T>): ReconnectingSocket {
  const Impl = options.WebSocketImpl ?? WebSocket;
  const random = options.random ?? Math.random;
  let socket: WebSocket | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let attempt = 0;
  let stopped = false;
  let openedAt = 0;
  let everOpened = false;
  let pinger: ReturnType<typeof setInterval> | null = null;
  const stopPinging = () => {
    if (pinger) clearInterval(pinger);
    pinger = null;
  };

  const connect = () => {
    if (stopped) return;
    timer = null;
    options.onState?.(attempt === 0 ? 'connecting' : 'reconnecting', { attempt });
    let ws: WebSocket;
    try {
      ws = new Impl(options.url());
    } catch {
      // A URL the browser refuses will not get better by retrying.
      stopped = true;
      options.onState?.('closed', { attempt });
      return;
    }
    socket = ws;
    ws.onopen = () => {
      openedAt = Date.now();
      stopPinging();
      if (options.keepAliveMs) {
        pinger = setInterval(() => {
          if (socket === ws && ws.readyState === 1) ws.send(JSON.stringify({ type: 'ping' }));
        }, options.keepAliveMs);
      }
      options.onState?.('open', { attempt, reconnected: everOpened });
      everOpened = true;
    };
    ws.onmessage = (message: MessageEvent) => {
      if (options.resetOnMessage) attempt = 0;
      let parsed: unknown;
      try {
        parsed = JSON.parse(String(message.data));
      } catch {
        return;
      }
      const batch = Array.isArray(parsed) ? parsed : [parsed];
      for (const item of batch) if (options.accept(item)) options.onMessage(item);
    };
    ws.onerror = () => {
      // a close event always follows; reconnection is decided there
    };
    ws.onclose = (event: CloseEvent) => {
      if (socket !== ws) return;
      socket = null;
      stopPinging();
      if (stopped) return;
      if (FATAL_CODES.has(event.code) || options.isFinished?.()) {
        stopped = true;
        options.onState?.('closed', { attempt, code: event.code });
        return;
      }
      if (openedAt && Date.now() - openedAt > STABLE_MS) attempt = 0;
      openedAt = 0;
      attempt += 1;
      const delay = backoffDelay(attempt, options.baseDelay, options.maxDelay, random);
      options.onState?.('reconnecting', { attempt, delay, code: event.code });
      timer = setTimeout(connect, delay);
    };
  };

  const onOnline = () => handle.retryNow();
  if (typeof window !== 'undefined') window.addEventListener('online', onOnline);

  const handle: ReconnectingSocket = {
    close() {
      stopped = true;
      stopPinging();
      if (timer) clearTimeout(timer);
      timer = null;
      if (typeof window !== 'undefined') window.removeEventListener('online', onOnline);
      const ws = socket;
      socket = null;
      if (ws && ws.readyState <= 1) ws.close(1000);
      if (options.reportClose) options.onState?.('closed', { attempt });
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
