import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ApiToken } from '../api/tokens';
import { ToastProvider } from '../components/toast';
import { fakeServer, json } from '../test/fakeServer';
import { curlWithToken, TokensPage } from './TokensPage';

let tokens: ApiToken[] = [];
let failList = false;

const calls = fakeServer(({ method, url, body }) => {
  if (url === '/api/tokens/' && method === 'GET') {
    if (failList) return json({ error: { code: 'server_error', message: 'The database is down.' } }, 500);
    return json(tokens);
  }
  if (url === '/api/tokens/' && method === 'POST') {
    if (body.name === 'taken') return json({ error: { code: 'invalid', message: 'name: too many', fields: { name: ['you have 50 tokens; delete one first'] } } }, 400);
    return json({ id: 9, name: body.name, prefix: 'fbt_AbCdEfGh', created_at: '2026-01-01T00:00:00Z', last_used_at: null, expires_at: null, expired: false, secret: 'fbt_AbCdEfGh-the-rest' }, 201);
  }
  if (url.startsWith('/api/tokens/') && method === 'DELETE') return new Response(null, { status: 204 });
  return json({ error: { code: 'not_found', message: 'Not found.' } }, 404);
});

beforeEach(() => {
  tokens = [
    { id: 1, name: 'laptop', prefix: 'fbt_11111111', created_at: '2026-01-01T00:00:00Z', last_used_at: null, expires_at: null, expired: false },
    { id: 2, name: 'old', prefix: 'fbt_22222222', created_at: '2025-01-01T00:00:00Z', last_used_at: '2025-02-01T00:00:00Z', expires_at: '2025-03-01T00:00:00Z', expired: true },
  ];
  failList = false;
});

const renderPage = () =>
  render(
    <ToastProvider>
      <TokensPage />
    </ToastProvider>,
  );

describe('TokensPage', () => {
  it('lists tokens by name and prefix, never a secret, and marks expired ones', async () => {
    renderPage();
    const row = await screen.findByTestId('token-laptop');
    expect(row.textContent).toContain('fbt_11111111…');
    expect(within(row).getAllByText('never').length).toBe(2);
    expect(screen.getByTestId('token-expired-old')).toBeTruthy();
  });

  it('creates a token and shows its secret once with a curl example', async () => {
    renderPage();
    await screen.findByTestId('token-laptop');
    fireEvent.click(screen.getByTestId('token-submit'));
    expect(screen.getByTestId('token-error-name')).toBeTruthy();
    expect(calls).toEqual([]);
    fireEvent.change(screen.getByTestId('token-name'), { target: { value: 'nightly' } });
    fireEvent.change(screen.getByTestId('token-expiry'), { target: { value: 'never' } });
    fireEvent.click(screen.getByTestId('token-submit'));
    const made = await screen.findByTestId('token-made');
    expect((within(made).getByTestId('token-secret-value') as HTMLInputElement).value).toBe('fbt_AbCdEfGh-the-rest');
    expect(screen.getByTestId('token-curl').textContent).toContain("Authorization: Token fbt_AbCdEfGh-the-rest");
    expect(calls).toEqual([{ method: 'POST', url: '/api/tokens/', body: { name: 'nightly', expires_in_days: null } }]);
    expect(screen.getByTestId('token-nightly')).toBeTruthy();
    fireEvent.click(screen.getByTestId('token-made-done'));
    expect(screen.queryByTestId('token-made')).toBeNull();
    expect(document.body.textContent).not.toContain('the-rest');
  });

  it("shows the server's field error under the field", async () => {
    renderPage();
    await screen.findByTestId('token-laptop');
    fireEvent.change(screen.getByTestId('token-name'), { target: { value: 'taken' } });
    fireEvent.click(screen.getByTestId('token-submit'));
    expect((await screen.findByTestId('token-error-name')).textContent).toBe('you have 50 tokens; delete one first');
    expect(calls[0].body).toEqual({ name: 'taken', expires_in_days: 90 });
  });

  it('deletes a token', async () => {
    renderPage();
    fireEvent.click(await screen.findByTestId('token-delete-laptop'));
    await waitFor(() => expect(screen.queryByTestId('token-laptop')).toBeNull());
    expect(calls).toEqual([{ method: 'DELETE', url: '/api/tokens/1/', body: undefined }]);
  });

  it('shows the error state and the empty state', async () => {
    failList = true;
    const { unmount } = renderPage();
    await screen.findByTestId('tokens-error');
    unmount();
    failList = false;
    tokens = [];
    renderPage();
    await screen.findByTestId('tokens-empty');
  });

  it('builds the curl example from the origin', () => {
    expect(curlWithToken('s3cret', 'https://flows.example.com')).toBe("curl -H 'Authorization: Token s3cret' https://flows.example.com/api/workflows/");
  });
});
