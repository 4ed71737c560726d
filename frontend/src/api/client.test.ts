import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, readCookie, request } from './client';

function respond(status: number, body: unknown, headers: Record<string, string> = { 'Content-Type': 'application/json' }) {
  return new Response(body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body), { status, headers });
}

afterEach(() => {
  document.cookie = 'csrftoken=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/';
});

describe('API client', () => {
  it('sends the CSRF token from the cookie on unsafe methods only', async () => {
    document.cookie = 'csrftoken=tok%3D123; path=/';
    const fetch = vi.fn(async () => respond(200, { ok: true }));
    vi.stubGlobal('fetch', fetch);
    await request('/api/workflows/', { method: 'POST', body: { name: 'x' } });
    await request('/api/workflows/');
    const [postUrl, post] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    const [, get] = fetch.mock.calls[1] as unknown as [string, RequestInit];
    expect(postUrl).toBe('/api/workflows/');
    expect((post.headers as Record<string, string>)['X-CSRFToken']).toBe('tok=123');
    expect((post.headers as Record<string, string>)['Content-Type']).toBe('application/json');
    expect(post.body).toBe('{"name":"x"}');
    expect(post.credentials).toBe('same-origin');
    expect((get.headers as Record<string, string>)['X-CSRFToken']).toBeUndefined();
  });

  it('turns the error shape into an ApiError with code, message and fields', async () => {
    vi.stubGlobal('fetch', async () => respond(400, { error: { code: 'invalid', message: 'Bad name', fields: { name: ['Too long'] } } }));
    const error = await request('/api/workflows/', { method: 'POST', body: {} }).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 400, code: 'invalid', message: 'Bad name' });
    expect((error as ApiError).fieldMessage('name')).toBe('Too long');
  });

  it('gives a readable error when the body is not our shape, and spots a lost session', async () => {
    vi.stubGlobal('fetch', async () => respond(502, '<html>Bad gateway</html>', { 'Content-Type': 'text/html' }));
    const gateway = (await request('/api/x/').catch((e) => e)) as ApiError;
    expect(gateway.message).toContain('502');
    vi.stubGlobal('fetch', async () => respond(401, { detail: 'no' }));
    const login = (await request('/api/x/').catch((e) => e)) as ApiError;
    expect(login.needsLogin).toBe(true);
  });

  it('reports an unreachable server as a network error', async () => {
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('Failed to fetch');
    });
    const error = (await request('/api/x/').catch((e) => e)) as ApiError;
    expect(error.code).toBe('network');
  });

  it('adds query parameters and returns nothing for 204', async () => {
    const fetch = vi.fn(async () => new Response(null, { status: 204 }));
    vi.stubGlobal('fetch', fetch);
    expect(await request('/api/runs/', { query: { workflow: 'w 1', skip: undefined } })).toBeUndefined();
    expect(fetch.mock.calls[0][0 as never]).toBe('/api/runs/?workflow=w+1');
  });

  it('reads cookies', () => {
    expect(readCookie('b', 'a=1; b=two%20words; c=3')).toBe('two words');
    expect(readCookie('z', 'a=1')).toBeNull();
  });
});
