import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ServedTool } from '../api/mcpEndpoint';
import type { WorkspaceSummary } from '../api/workspaces';
import { ToastProvider } from '../components/toast';
import { fakeServer, json } from '../test/fakeServer';
import { McpEndpointSection } from './McpEndpointSection';

const WORKSPACE = { id: 3, name: 'Team', slug: 'team', role: 'owner', created_at: '2026-01-01T00:00:00Z' } as WorkspaceSummary;
let tools: ServedTool[] = [];
let refuse = false;

const calls = fakeServer(({ method, url, body }) => {
  if (url === '/api/workspaces/3/mcp/' && method === 'GET') return json({ url: 'http://host/mcp/3/', auth: 'Authorization: Bearer <API token>', tools });
  const served = /^\/api\/workspaces\/3\/mcp\/workflows\/([^/]+)\/$/.exec(url);
  if (served && method === 'PUT') {
    if (refuse) return json({ error: { code: 'permission_denied', message: 'your role may not change workflows' } }, 403);
    const tool = tools.find((t) => t.workflow_id === served[1])!;
    return json({ ...tool, exposed: body.exposed, problem: body.exposed ? 'the workflow has no saved version to run' : null });
  }
  return json({ error: { code: 'not_found', message: 'Not found.' } }, 404);
});

beforeEach(() => {
  tools = [
    { name: 'brief', workflow_id: 'w1', workflow_name: 'Brief', description: 'Writes', input_schema: { type: 'object' }, exposed: false, problem: null },
    { name: 'brief_2', workflow_id: 'w2', workflow_name: 'brief', description: 'Runs', input_schema: { type: 'object' }, exposed: true, problem: null },
  ];
  refuse = false;
});

const renderSection = (canEdit = true) =>
  render(
    <ToastProvider>
      <McpEndpointSection workspace={WORKSPACE} canEdit={canEdit} />
    </ToastProvider>,
  );

describe('McpEndpointSection', () => {
  it('shows the URL, a client configuration with a Bearer header, and each workflow with its tool name', async () => {
    renderSection();
    expect((await screen.findByTestId('mcp-endpoint-url')).textContent).toBe('http://host/mcp/3/');
    const config = JSON.parse(screen.getByTestId('mcp-endpoint-config').textContent ?? '');
    expect(config.mcpServers.flows).toEqual({ type: 'http', url: 'http://host/mcp/3/', headers: { Authorization: 'Bearer <your API token>' } });
    expect(screen.getByTestId('mcp-served-w1').textContent).toContain('Brief as brief');
    expect((screen.getByTestId('mcp-serve-w2') as HTMLInputElement).checked).toBe(true);
  });

  it('turns serving on through the API and shows a problem the answer names', async () => {
    renderSection();
    fireEvent.click(await screen.findByTestId('mcp-serve-w1'));
    await waitFor(() => expect((screen.getByTestId('mcp-serve-w1') as HTMLInputElement).checked).toBe(true));
    expect(calls).toContainEqual({ method: 'PUT', url: '/api/workspaces/3/mcp/workflows/w1/', body: { exposed: true } });
    expect(screen.getByTestId('mcp-served-w1').textContent).toContain('no saved version');
  });

  it('keeps the box as it was when the change is refused, and says why', async () => {
    refuse = true;
    renderSection();
    fireEvent.click(await screen.findByTestId('mcp-serve-w1'));
    expect(await screen.findByText(/Could not change it: your role may not change workflows/)).toBeTruthy();
    expect((screen.getByTestId('mcp-serve-w1') as HTMLInputElement).checked).toBe(false);
  });

  it('lets a role that may not edit see the boxes but not flip them', async () => {
    renderSection(false);
    expect((await screen.findByTestId('mcp-serve-w1') as HTMLInputElement).disabled).toBe(true);
  });
});
