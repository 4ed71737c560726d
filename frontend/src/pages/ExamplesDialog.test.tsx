import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { nodeCountText } from './ExamplesDialog';
import { WorkflowListPage } from './WorkflowListPage';

function respond(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

const EXAMPLES = [
  { name: 'research', title: 'Research briefing', description: 'Plans a briefing on a topic.', node_count: 8 },
  { name: 'sales-report', title: 'Sales report team', description: 'A manager and its team.', node_count: 6 },
];

const CREATED = {
  id: 'wf-1',
  name: 'Research briefing',
  description: 'Plans a briefing on a topic.',
  updated_at: '2026-01-01T00:00:00Z',
  version: 1,
  valid: true,
  graph: { nodes: [], edges: [] },
  issues: [],
};

type Call = { url: string; method: string };

function stubBackend(importAnswer: () => Response = () => respond(201, CREATED)) {
  const calls: Call[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      const method = init?.method ?? 'GET';
      calls.push({ url, method });
      if (url.startsWith('/api/workflows/')) return respond(200, { count: 0, next: null, previous: null, results: [] });
      if (url === '/api/examples/' && method === 'GET') return respond(200, EXAMPLES);
      if (url.startsWith('/api/examples/') && method === 'POST') return importAnswer();
      return respond(404, { error: { code: 'not_found', message: `no ${url}` } });
    }),
  );
  return calls;
}

beforeEach(() => {
  window.history.replaceState(null, '', '/');
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('new from example', () => {
  it('lists the examples, imports the chosen one and opens it in the editor', async () => {
    const calls = stubBackend();
    render(<WorkflowListPage />);
    fireEvent.click(await screen.findByTestId('examples-menu'));

    const use = await screen.findByTestId('example-sales-report');
    expect(screen.getByTestId('examples-list').textContent).toContain('Research briefing');
    expect(screen.getByTestId('examples-list').textContent).toContain('8 nodes');
    expect(screen.getByTestId('example-research')).toBeTruthy();

    fireEvent.click(use);
    await waitFor(() => expect(window.location.pathname).toBe('/workflows/wf-1'));
    expect(calls.filter((c) => c.method === 'POST')).toEqual([{ url: '/api/examples/sales-report/import/', method: 'POST' }]);
    expect(screen.queryByTestId('examples-dialog')).toBeNull();
  });

  it('says why an import failed and stays on the list', async () => {
    stubBackend(() => respond(404, { error: { code: 'not_found', message: "there is no example named 'research'" } }));
    render(<WorkflowListPage />);
    fireEvent.click(await screen.findByTestId('examples-menu'));
    fireEvent.click(await screen.findByTestId('example-research'));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Could not create “Research briefing”');
    expect(alert.textContent).toContain('no example named');
    expect(window.location.pathname).toBe('/');
    expect((screen.getByTestId('example-research') as HTMLButtonElement).disabled).toBe(false);
  });

  it('counts nodes in words', () => {
    expect(nodeCountText(1)).toBe('1 node');
    expect(nodeCountText(6)).toBe('6 nodes');
  });
});
