// A stand-in for the browser's WebSocket that a test drives by hand: `open`, `deliver` (a message
// from the server), `drop` (the connection is lost); what the client sends is kept in `sent`.
// Every socket made is in `FakeSocket.made`, in order; clear it before each test.

export class FakeSocket {
  static made: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  closedWith: number | null = null;

  constructor(readonly url: string) {
    FakeSocket.made.push(this);
  }

  /** As the option the sockets take (`WebSocketImpl`). */
  static get impl(): { new (url: string): WebSocket } {
    return FakeSocket as unknown as { new (url: string): WebSocket };
  }

  open() {
    this.readyState = 1;
    this.onopen?.();
  }

  /** A message from the server: a string as is, anything else as JSON. */
  deliver(data: unknown) {
    this.onmessage?.({ data: typeof data === 'string' ? data : JSON.stringify(data) });
  }

  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code });
  }

  /** The client's own send. */
  send(frame: string) {
    this.sent.push(frame);
  }

  close(code: number) {
    this.closedWith = code;
    this.readyState = 3;
  }
}
