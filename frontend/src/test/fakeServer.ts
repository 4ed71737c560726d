// A fake API server for page tests: fetch answers from a route function, window.confirm says yes,
// and the requests that change something (not GET) are recorded in order.

import { afterEach, beforeEach, vi } from 'vitest';

export const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

export type Call = { method: string; url: string; body: unknown };
export type FakeRequest = { method: string; url: string; body: any };

/** Installs the fake for every test of the file (call at the top level); the list of non-GET
 *  calls it returns is emptied before each test. */
export function fakeServer(route: (request: FakeRequest) => Response | Promise<Response>): Call[] {
  const calls: Call[] = [];
  const fetchMock = vi.fn(async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    const method = init?.method ?? 'GET';
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    if (method !== 'GET') calls.push({ method, url, body });
    return route({ method, url, body });
  });
  beforeEach(() => {
    calls.length = 0;
    vi.stubGlobal('fetch', fetchMock);
    vi.stubGlobal('confirm', vi.fn(() => true));
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });
  return calls;
}
