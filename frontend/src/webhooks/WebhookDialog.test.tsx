import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WorkflowSummary } from '../api/resources';
import { curlExample, getWebhook, type Webhook } from '../api/webhooks';
import { WebhookDialog } from './WebhookDialog';

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

const WORKFLOW: WorkflowSummary = { id: 'wf-1', name: 'Briefing', description: '', updated_at: '2026-01-01T00:00:00Z' };
const URL_ = '/api/workflows/wf-1/webhook/';

let webhook: Webhook | null = null;
let failGet: number | null = null;
let secretCount = 0;
const calls: { method: string; body: unknown }[] = [];

const fetchMock = vi.fn(async (input: string | URL | Request, init?: RequestInit) => {
  const url = String(input);
  const method = init?.method ?? 'GET';
  const body = init?.body ? JSON.parse(String(init.body)) : undefined;
  if (url !== URL_) return json({ error: { code: 'not_found', message: 'Not found.' } }, 404);
  if (method !== 'GET') calls.push({ method, body });
  if (method === 'GET') {
    if (failGet) return json({ error: { code: 'server_error', message: 'Broken.' } }, failGet);
    return webhook ? json(webhook) : json({ error: { code: 'not_found', message: 'this workflow has no webhook' } }, 404);
  }
  if (method === 'POST') {
    secretCount += 1;
    webhook = { enabled: true, prefix: `whk_${secretCount}aaaaaaa`, rate_limit_per_minute: body.rate_limit_per_minute ?? webhook?.rate_limit_per_minute ?? 60, created_by: 'alice', created_at: '2026-01-01T00:00:00Z', last_triggered_at: null };
    return json({ ...webhook, url: `http://testserver/hooks/whk_${secretCount}-secret/` }, 201);
  }
  if (method === 'PATCH') {
    if (body.rate_limit_per_minute > 10000) {
      return json({ error: { code: 'invalid', message: 'x', fields: { rate_limit_per_minute: ['Ensure this value is less than or equal to 10000.'] } } }, 400);
    }
    webhook = { ...webhook!, ...body };
    return json(webhook);
  }
  webhook = null;
  return new Response(null, { status: 204 });
});

beforeEach(() => {
  webhook = null;
  failGet = null;
  secretCount = 0;
  calls.length = 0;
  vi.stubGlobal('fetch', fetchMock);
  vi.stubGlobal('confirm', vi.fn(() => true));
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe('WebhookDialog', () => {
  it('creates a webhook and shows its URL once with a curl example', async () => {
    render(<WebhookDialog workflow={WORKFLOW} onClose={() => undefined} />);
    await screen.findByTestId('webhook-none');
    fireEvent.change(screen.getByTestId('webhook-limit'), { target: { value: '5' } });
    fireEvent.click(screen.getByTestId('webhook-create'));
    const made = await screen.findByTestId('webhook-made');
    expect((within(made).getByTestId('webhook-url-value') as HTMLInputElement).value).toBe('http://testserver/hooks/whk_1-secret/');
    expect(screen.getByTestId('webhook-curl').textContent).toContain("curl -X POST 'http://testserver/hooks/whk_1-secret/'");
    expect(calls).toEqual([{ method: 'POST', body: { rate_limit_per_minute: 5 } }]);
    expect(screen.getByTestId('webhook-prefix').textContent).toBe('/hooks/whk_1aaaaaaa…/');
  });

  it('rotates, switches off, refuses a bad limit with the server message, and deletes', async () => {
    webhook = { enabled: true, prefix: 'whk_0aaaaaaa', rate_limit_per_minute: 60, created_by: 'bob', created_at: '2026-01-01T00:00:00Z', last_triggered_at: null };
    render(<WebhookDialog workflow={WORKFLOW} onClose={() => undefined} />);
    await screen.findByTestId('webhook-details');
    expect(screen.queryByTestId('webhook-made')).toBeNull(); // an existing secret is never shown
    fireEvent.click(screen.getByTestId('webhook-rotate'));
    await screen.findByTestId('webhook-made');
    fireEvent.click(screen.getByTestId('webhook-enabled'));
    await waitFor(() => expect((screen.getByTestId('webhook-enabled') as HTMLInputElement).checked).toBe(false));
    expect(calls.at(-1)).toEqual({ method: 'PATCH', body: { enabled: false } });
    fireEvent.change(screen.getByTestId('webhook-limit'), { target: { value: '-1' } });
    fireEvent.click(screen.getByTestId('webhook-save-limit'));
    expect(screen.getByTestId('webhook-limit-error').textContent).toContain('at least 1');
    fireEvent.change(screen.getByTestId('webhook-limit'), { target: { value: '20000' } });
    fireEvent.click(screen.getByTestId('webhook-save-limit'));
    await waitFor(() => expect(screen.getByTestId('webhook-limit-error').textContent).toBe('Ensure this value is less than or equal to 10000.'));
    fireEvent.change(screen.getByTestId('webhook-limit'), { target: { value: '30' } });
    fireEvent.click(screen.getByTestId('webhook-save-limit'));
    await waitFor(() => expect(screen.queryByTestId('webhook-limit-error')).toBeNull());
    expect(calls.at(-1)).toEqual({ method: 'PATCH', body: { rate_limit_per_minute: 30 } });
    fireEvent.click(screen.getByTestId('webhook-delete'));
    await screen.findByTestId('webhook-none');
    expect(calls.at(-1)).toEqual({ method: 'DELETE', body: undefined });
    expect(screen.queryByTestId('webhook-made')).toBeNull();
  });

  it('shows a refusal (e.g. a viewer) and a load error', async () => {
    failGet = 500;
    const { unmount } = render(<WebhookDialog workflow={WORKFLOW} onClose={() => undefined} />);
    expect(await screen.findByText('Broken.')).toBeTruthy();
    unmount();
    failGet = null;
    render(<WebhookDialog workflow={WORKFLOW} onClose={() => undefined} />);
    await screen.findByTestId('webhook-none');
  });
});

describe('webhooks api', () => {
  it('reads a missing webhook as null but other failures as errors', async () => {
    expect(await getWebhook('wf-1')).toBeNull();
    failGet = 403;
    await expect(getWebhook('wf-1')).rejects.toThrow('Broken.');
  });

  it('writes a curl example', () => {
    expect(curlExample('https://x/hooks/s/')).toBe("curl -X POST 'https://x/hooks/s/' \\\n  -H 'Content-Type: application/json' \\\n  -d '{\"topic\": \"tidal power\"}'");
  });
});
