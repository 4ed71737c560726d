import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Credential } from '../api/credentials';
import type { Role, WorkspaceSummary } from '../api/workspaces';
import { ToastProvider } from '../components/toast';
import { fakeServer, json } from '../test/fakeServer';
import { CredentialsPage } from './CredentialsPage';

const LIST = '/api/workspaces/7/credentials/';
let credentials: Credential[] = [];
let failList = false;

const credential = (name: string, extra: Partial<Credential> = {}): Credential => ({
  name,
  kind: 'openai',
  hint: '…a1b2',
  config: {},
  created_by: 'alice',
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-02T00:00:00Z',
  ...extra,
});

const MODELS = [
  { model: 'anthropic/claude-3-5-haiku-latest', input_price: 0.8, output_price: 4, context: 200000, source: 'builtin', builtin: true, note: '' },
  { model: 'openai/gpt-4o-mini', input_price: 0.15, output_price: 0.6, context: 128000, source: 'builtin', builtin: true, note: '' },
  { model: 'openai/gemma-3-270m', input_price: 0, output_price: 0, context: 8192, source: 'builtin', builtin: true, note: 'Gemma 3 270M on this machine: a tiny model for trying flows' },
];

const TESTED = {
  ok: true,
  provider: 'openai',
  model: 'openai/gemma-3-270m',
  server: '127.0.0.1',
  message: 'The key works: 127.0.0.1 answered with openai/gemma-3-270m.',
  problem: null,
  capability: null,
  capabilities: {
    structured_output: 'json_object',
    structured_output_source: 'detected',
    stream_usage: 'counted',
    stream_usage_source: 'detected',
    tools: 'native',
    tools_source: 'detected',
  },
  warnings: [],
};

const calls = fakeServer(({ method, url, body }) => {
  if (url === '/api/models/?workspace=7' && method === 'GET') return json(MODELS);
  if (url === `${LIST}openai-prod/test/` && method === 'POST') {
    if (body.model === 'openai/gemma-3-270m') return json(TESTED);
    return json({
      ...TESTED,
      ok: false,
      model: body.model,
      problem: 'model_unknown',
      capabilities: null,
      message: "127.0.0.1 does not serve the model 'nope': check the name after the provider in the model id (openai: HTTP 404: model not found)",
    });
  }
  if (url === LIST && method === 'GET') {
    if (failList) return json({ error: { code: 'server_error', message: 'The database is down.' } }, 500);
    return json(credentials);
  }
  if (url === LIST && method === 'POST') {
    if (body.name === 'taken') {
      const message = "this workspace already has a credential named 'taken'";
      return json({ error: { code: 'conflict', message, fields: { name: [message] } } }, 409);
    }
    if (body.config?.base_url === 'ftp://x') {
      return json({ error: { code: 'invalid', message: 'config.base_url: must be an http(s) URL', fields: { 'config.base_url': ['must be an http(s) URL'] } } }, 400);
    }
    return json(credential(body.name, { kind: body.kind, config: body.config ?? {}, hint: '…' + body.value.slice(-4) }), 201);
  }
  if (url.startsWith(LIST) && method === 'PATCH') {
    const name = decodeURIComponent(url.slice(LIST.length, -1));
    return json(credential(name, { hint: '…' + body.value.slice(-4), updated_at: '2026-02-01T00:00:00Z' }));
  }
  if (url.startsWith(LIST) && method === 'DELETE') return new Response(null, { status: 204 });
  return json({ error: { code: 'not_found', message: 'Not found.' } }, 404);
});

beforeEach(() => {
  credentials = [credential('openai-prod', { config: { base_url: 'https://llm.example/v1' } }), credential('search', { kind: 'http_header', hint: '', config: { header: 'X-Api-Key' } })];
  failList = false;
});

const workspace = (role: Role): WorkspaceSummary => ({ id: 7, name: 'Team', slug: 'team', role, created_at: '2026-01-01T00:00:00Z' });

const renderPage = (role: Role = 'owner') =>
  render(
    <ToastProvider>
      <CredentialsPage workspace={workspace(role)} />
    </ToastProvider>,
  );

describe('CredentialsPage', () => {
  it('lists name, kind, hint and where, never a value', async () => {
    renderPage();
    const row = await screen.findByTestId('credential-openai-prod');
    expect(row.textContent).toContain('OpenAI-compatible API key');
    expect(row.textContent).toContain('…a1b2');
    expect(row.textContent).toContain('https://llm.example/v1');
    expect(screen.getByTestId('credential-hint-search').textContent).toBe('set');
    expect(screen.getByTestId('credential-search').textContent).toContain('header X-Api-Key');
  });

  it('adds a credential from a password field and clears the value after', async () => {
    renderPage();
    await screen.findByTestId('credential-openai-prod');
    const value = screen.getByTestId('credential-value') as HTMLInputElement;
    expect(value.type).toBe('password');
    fireEvent.change(screen.getByTestId('credential-name'), { target: { value: 'claude' } });
    fireEvent.change(screen.getByTestId('credential-kind'), { target: { value: 'anthropic' } });
    fireEvent.change(value, { target: { value: 'sk-ant-secret-zz99' } });
    fireEvent.click(screen.getByTestId('credential-submit'));
    const row = await screen.findByTestId('credential-claude');
    expect(row.textContent).toContain('…zz99');
    expect(calls).toEqual([{ method: 'POST', url: LIST, body: { name: 'claude', kind: 'anthropic', value: 'sk-ant-secret-zz99', config: {} } }]);
    expect(value.value).toBe('');
    expect(document.body.innerHTML).not.toContain('sk-ant-secret');
  });

  it('asks for the header name of an HTTP header credential and sends it as config', async () => {
    renderPage();
    await screen.findByTestId('credential-openai-prod');
    fireEvent.change(screen.getByTestId('credential-kind'), { target: { value: 'http_header' } });
    expect(screen.queryByTestId('credential-base-url')).toBeNull();
    fireEvent.change(screen.getByTestId('credential-name'), { target: { value: 'weather' } });
    fireEvent.change(screen.getByTestId('credential-value'), { target: { value: 'token-123456' } });
    fireEvent.click(screen.getByTestId('credential-submit'));
    expect(screen.getByTestId('credential-error-header')).toBeTruthy();
    expect(calls).toEqual([]);
    fireEvent.change(screen.getByTestId('credential-header'), { target: { value: 'X-Weather-Key' } });
    fireEvent.click(screen.getByTestId('credential-submit'));
    await screen.findByTestId('credential-weather');
    expect(calls[0].body).toEqual({ name: 'weather', kind: 'http_header', value: 'token-123456', config: { header: 'X-Weather-Key' } });
  });

  it('checks the name before sending and shows server field errors under their fields', async () => {
    renderPage();
    await screen.findByTestId('credential-openai-prod');
    fireEvent.change(screen.getByTestId('credential-name'), { target: { value: 'has spaces' } });
    fireEvent.click(screen.getByTestId('credential-submit'));
    expect(screen.getByTestId('credential-error-name')).toBeTruthy();
    expect(screen.getByTestId('credential-error-value')).toBeTruthy();
    expect(calls).toEqual([]);

    fireEvent.change(screen.getByTestId('credential-name'), { target: { value: 'taken' } });
    fireEvent.change(screen.getByTestId('credential-value'), { target: { value: 'sk-something-long' } });
    fireEvent.click(screen.getByTestId('credential-submit'));
    expect((await screen.findByTestId('credential-error-name')).textContent).toContain('already has a credential');

    fireEvent.change(screen.getByTestId('credential-name'), { target: { value: 'other' } });
    fireEvent.change(screen.getByTestId('credential-base-url'), { target: { value: 'ftp://x' } });
    fireEvent.click(screen.getByTestId('credential-submit'));
    expect((await screen.findByTestId('credential-error-base_url')).textContent).toContain('http(s) URL');
    expect(screen.queryByTestId('credential-error-name')).toBeNull();
  });

  it('replaces a value and deletes after confirming', async () => {
    renderPage();
    await screen.findByTestId('credential-openai-prod');
    fireEvent.click(screen.getByTestId('credential-replace-openai-prod'));
    const form = screen.getByTestId('credential-replace-form-openai-prod');
    fireEvent.change(within(form).getByTestId('credential-new-value'), { target: { value: 'sk-new-value-9876' } });
    fireEvent.click(within(form).getByTestId('credential-replace-submit'));
    await waitFor(() => expect(screen.getByTestId('credential-hint-openai-prod').textContent).toBe('…9876'));
    expect(screen.queryByTestId('credential-replace-form-openai-prod')).toBeNull();
    expect(calls[0]).toEqual({ method: 'PATCH', url: `${LIST}openai-prod/`, body: { value: 'sk-new-value-9876' } });

    vi.stubGlobal('confirm', vi.fn(() => false));
    fireEvent.click(screen.getByTestId('credential-delete-search'));
    expect(calls.length).toBe(1);
    vi.stubGlobal('confirm', vi.fn(() => true));
    fireEvent.click(screen.getByTestId('credential-delete-search'));
    await waitFor(() => expect(screen.queryByTestId('credential-search')).toBeNull());
    expect(calls[1]).toEqual({ method: 'DELETE', url: `${LIST}search/`, body: undefined });
  });

  it("tests an LLM key: the catalogue's local model first, then what the server can do or what went wrong", async () => {
    renderPage();
    await screen.findByTestId('credential-openai-prod');
    expect(screen.queryByTestId('credential-test-button-search')).toBeNull(); // an HTTP token has no model
    fireEvent.click(screen.getByTestId('credential-test-button-openai-prod'));
    const form = screen.getByTestId('credential-test-form-openai-prod');
    const model = within(form).getByTestId('credential-test-model') as HTMLInputElement;
    await waitFor(() => expect(model.value).toBe('openai/gemma-3-270m'));
    // only the credential's provider is suggested
    const suggested = Array.from(form.querySelectorAll('datalist option')).map((o) => (o as HTMLOptionElement).value);
    expect(suggested).toEqual(['openai/gemma-3-270m', 'openai/gpt-4o-mini']);

    fireEvent.click(within(form).getByTestId('credential-test-run'));
    const result = await within(form).findByTestId('credential-test-result');
    expect(result.dataset.ok).toBe('true');
    expect(result.textContent).toContain('The key works');
    expect(within(result).getByTestId('credential-test-structured_output').dataset.value).toBe('json_object');
    expect(within(result).getByTestId('credential-test-structured_output').textContent).toContain('found out now');
    expect(within(result).getByTestId('credential-test-stream_usage').textContent).toContain('counted from the text');
    expect(calls).toEqual([{ method: 'POST', url: `${LIST}openai-prod/test/`, body: { model: 'openai/gemma-3-270m' } }]);

    fireEvent.change(model, { target: { value: 'openai/nope' } });
    fireEvent.click(within(form).getByTestId('credential-test-run'));
    await waitFor(() => expect(within(form).getByTestId('credential-test-result').dataset.ok).toBe('false'));
    const failed = within(form).getByTestId('credential-test-result');
    expect(failed.dataset.problem).toBe('model_unknown');
    expect(failed.textContent).toContain('Model unknown');
    expect(failed.textContent).toContain("does not serve the model 'nope'");

    fireEvent.change(model, { target: { value: ' ' } });
    fireEvent.click(within(form).getByTestId('credential-test-run'));
    expect(within(form).getByTestId('credential-test-error').textContent).toContain('Name a model');
    expect(calls.length).toBe(2);
  });

  it('lets runners test but not change; viewers neither', async () => {
    const { unmount } = renderPage('runner');
    await screen.findByTestId('credential-openai-prod');
    expect(screen.getByTestId('credential-test-button-openai-prod')).toBeTruthy();
    expect(screen.queryByTestId('credential-replace-openai-prod')).toBeNull();
    unmount();
    renderPage('viewer');
    await screen.findByTestId('credential-openai-prod');
    expect(screen.queryByTestId('credential-test-button-openai-prod')).toBeNull();
  });

  it('is read-only for members who may not edit', async () => {
    renderPage('viewer');
    await screen.findByTestId('credential-openai-prod');
    expect(screen.getByTestId('credentials-read-only').textContent).toContain('viewer');
    expect(screen.queryByTestId('credential-form')).toBeNull();
    expect(screen.queryByTestId('credential-delete-openai-prod')).toBeNull();
    expect(screen.queryByTestId('credential-replace-openai-prod')).toBeNull();
  });

  it('shows the empty and the error states', async () => {
    credentials = [];
    const { unmount } = renderPage();
    expect(await screen.findByTestId('credentials-empty')).toBeTruthy();
    unmount();
    credentials = [credential('openai-prod')];
    failList = true;
    renderPage();
    expect((await screen.findByTestId('credentials-error')).textContent).toContain('The database is down.');
    failList = false;
    fireEvent.click(screen.getByRole('button', { name: /retry|try again/i }));
    expect(await screen.findByTestId('credential-openai-prod')).toBeTruthy();
  });
});
