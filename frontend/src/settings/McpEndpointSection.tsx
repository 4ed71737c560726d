// The part of /settings/tools that goes the other way: this workspace's workflows served as the
// tools of an MCP server at a URL of the app, for MCP clients (an IDE, a desktop assistant,
// another agent framework) with an API token. Each workflow has a toggle; owners and editors
// flip it, everyone else sees which are served. A call is a normal run (see the README).

import { errorMessage } from '../api/client';
import { getMcpEndpoint, setServed, type ServedTool } from '../api/mcpEndpoint';
import type { WorkspaceSummary } from '../api/workspaces';
import { LoadStatus } from '../components/LoadStatus';
import { useToast } from '../components/toast';
import { EmptyState } from '../components/ui';
import { useLoad } from '../components/useLoad';
import { Link, paths } from '../router';

function clientConfig(url: string): string {
  return JSON.stringify({ mcpServers: { flows: { type: 'http', url, headers: { Authorization: 'Bearer <your API token>' } } } }, null, 2);
}

export function McpEndpointSection({ workspace, canEdit }: { workspace: WorkspaceSummary; canEdit: boolean }) {
  const toast = useToast();
  const { load, reload, update } = useLoad(() => getMcpEndpoint(workspace.id), [workspace.id]);

  const toggle = async (tool: ServedTool) => {
    try {
      const changed = await setServed(workspace.id, tool.workflow_id, !tool.exposed);
      update((endpoint) => ({ ...endpoint, tools: endpoint.tools.map((t) => (t.workflow_id === changed.workflow_id ? changed : t)) }));
      toast.show(changed.exposed ? `“${tool.workflow_name}” is served as ${changed.name}.` : `“${tool.workflow_name}” is no longer served.`, 'success');
    } catch (error) {
      toast.show(`Could not change it: ${errorMessage(error)}`, 'error');
    }
  };

  return (
    <section className="settings-section" data-testid="mcp-endpoint">
      <h2>Workflows as an MCP server</h2>
      <p className="muted">
        MCP clients list the workflows turned on below as tools, and each call runs the workflow as you would (it shows in its runs, counts against budgets, and its approval gates wait for a
        person). Connect with streamable HTTP and an API token of yours from <Link to={paths.settings('tokens')}>Tokens</Link>.
      </p>
      <LoadStatus load={load} loading="Loading the workflows…" errorTitle="Could not load the MCP endpoint" onRetry={reload} />
      {load.status === 'ready' && (
        <>
          <p>
            URL: <code data-testid="mcp-endpoint-url">{load.data.url}</code>
          </p>
          <details>
            <summary>Client configuration</summary>
            <pre className="tool-schema" data-testid="mcp-endpoint-config">
              {clientConfig(load.data.url)}
            </pre>
          </details>
          {load.data.tools.length === 0 && <EmptyState title="No workflows yet">Make a workflow first; then it can be served here.</EmptyState>}
          {load.data.tools.length > 0 && (
            <ul className="tool-list">
              {load.data.tools.map((tool) => (
                <li key={tool.workflow_id} data-testid={`mcp-served-${tool.workflow_id}`}>
                  <label>
                    <input
                      type="checkbox"
                      checked={tool.exposed}
                      disabled={!canEdit}
                      onChange={() => void toggle(tool)}
                      data-testid={`mcp-serve-${tool.workflow_id}`}
                      aria-label={`Serve “${tool.workflow_name}” over MCP`}
                    />{' '}
                    {tool.workflow_name} <span className="muted">as</span> <code>{tool.name}</code>
                  </label>
                  {tool.exposed && tool.problem && <span className="badge-warn"> {tool.problem}</span>}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
