// /settings/tools: the tools a workspace's agents may call. MCP servers added by their
// streamable-HTTP URL (with a credential for their auth header), each with the tools its last
// listing found and their argument schemas, refreshed on demand; the operator's local servers,
// read-only; and HTTP tools (a method, a URL template over the arguments, a parameter schema).
// Owners and editors add, refresh and delete; everyone else sees the lists.

import { useEffect, useState, type FormEvent } from 'react';
import { errorMessage } from '../api/client';
import { listCredentials } from '../api/credentials';
import {
  addHttpTool,
  addServer,
  deleteHttpTool,
  deleteServer,
  listHttpTools,
  listServers,
  refreshServer,
  type HttpTool,
  type McpServer,
} from '../api/tools';
import type { WorkspaceSummary } from '../api/workspaces';
import { LoadStatus } from '../components/LoadStatus';
import { useToast } from '../components/toast';
import { EmptyState, Field, FieldError } from '../components/ui';
import { useFormSubmit } from '../components/useFormSubmit';
import { useLoad } from '../components/useLoad';
import { formatDate } from '../run/format';
import { McpEndpointSection } from './McpEndpointSection';

const EDIT_ROLES = new Set(['owner', 'editor']);
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const TOOL_CREDENTIAL_KINDS = new Set(['http_bearer', 'http_header']);

function useToolCredentials(workspaceId: number): string[] {
  const [names, setNames] = useState<string[]>([]);
  useEffect(() => {
    let live = true;
    listCredentials(workspaceId)
      .then((found) => live && setNames(found.filter((c) => TOOL_CREDENTIAL_KINDS.has(c.kind)).map((c) => c.name)))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [workspaceId]);
  return names;
}

export function ToolsPage({ workspace }: { workspace: WorkspaceSummary }) {
  const canEdit = EDIT_ROLES.has(workspace.role);
  const credentials = useToolCredentials(workspace.id);
  useEffect(() => {
    document.title = 'Tools — Flows';
  }, []);
  return (
    <div className="page list-page" data-testid="tools-page">
      <header className="page-head">
        <div>
          <h1>Tools</h1>
          <p className="muted">
            What the agents of <strong>{workspace.name}</strong> may call besides the built-ins. Pick them in a worker’s settings under <em>Tools</em>. Servers are reached through the
            server’s outbound guard; a local command is the operator’s to declare, not added here.
          </p>
          {!canEdit && <p className="muted">Your role ({workspace.role}) may see the tools; owners and editors add and change them.</p>}
        </div>
      </header>
      <McpServers workspace={workspace} canEdit={canEdit} credentials={credentials} />
      <HttpTools workspace={workspace} canEdit={canEdit} credentials={credentials} />
      <McpEndpointSection workspace={workspace} canEdit={canEdit} />
    </div>
  );
}

function McpServers({ workspace, canEdit, credentials }: { workspace: WorkspaceSummary; canEdit: boolean; credentials: string[] }) {
  const toast = useToast();
  const { load, reload, update } = useLoad(() => listServers(workspace.id), [workspace.id]);
  const put = (server: McpServer) => update((servers) => [...servers.filter((s) => s.name !== server.name), server].sort((a, b) => a.name.localeCompare(b.name)));

  const refresh = async (server: McpServer) => {
    try {
      const fresh = await refreshServer(workspace.id, server.name);
      put(fresh);
      toast.show(fresh.tools_error ? `Could not list the tools of “${server.name}”.` : `Listed ${fresh.tools.length} tools of “${server.name}”.`, fresh.tools_error ? 'error' : 'success');
    } catch (error) {
      toast.show(`Could not refresh: ${errorMessage(error)}`, 'error');
    }
  };
  const remove = async (server: McpServer) => {
    if (!window.confirm(`Remove the MCP server “${server.name}”? Workers that use its tools will get an error result from them.`)) return;
    try {
      await deleteServer(workspace.id, server.name);
      update((servers) => servers.filter((s) => s.name !== server.name));
    } catch (error) {
      toast.show(`Could not remove: ${errorMessage(error)}`, 'error');
    }
  };

  return (
    <section className="settings-section" data-testid="mcp-servers">
      <h2>MCP servers</h2>
      {canEdit && <NewServerForm workspaceId={workspace.id} credentials={credentials} onMade={put} />}
      <LoadStatus load={load} loading="Loading servers…" errorTitle="Could not load the MCP servers" onRetry={reload} />
      {load.status === 'ready' && load.data.length === 0 && <EmptyState title="No MCP servers yet">{canEdit ? 'Add one by its URL above.' : 'An owner or editor can add one.'}</EmptyState>}
      {load.status === 'ready' &&
        load.data.map((server) => (
          <article key={server.name} className="tool-server card" data-testid={`mcp-server-${server.name}`}>
            <header className="tool-server-head">
              <strong>{server.name}</strong>
              <span className="muted">{server.source === 'operator' ? 'local command (the operator’s)' : server.url}</span>
              {server.credential && <span className="muted"> · credential {server.credential}</span>}
              {server.refreshed_at && <span className="muted"> · listed {formatDate(server.refreshed_at)}</span>}
              {canEdit && (
                <span className="row-actions">
                  <button type="button" className="btn btn-ghost btn-small" onClick={() => void refresh(server)} data-testid={`mcp-refresh-${server.name}`}>
                    Refresh
                  </button>
                  {server.source === 'workspace' && (
                    <button type="button" className="btn btn-ghost btn-small danger" onClick={() => void remove(server)} data-testid={`mcp-delete-${server.name}`}>
                      Remove
                    </button>
                  )}
                </span>
              )}
            </header>
            {server.tools_error && (
              <p className="field-error" role="alert" data-testid={`mcp-error-${server.name}`}>
                {server.tools_error}
              </p>
            )}
            {server.tools.length > 0 && (
              <ul className="tool-list">
                {server.tools.map((tool) => (
                  <li key={tool.name} data-testid={`mcp-tool-${server.name}-${tool.name}`}>
                    <details>
                      <summary>
                        <code>{tool.name}</code> {tool.description && <span className="muted">— {tool.description}</span>}
                        {tool.problem && <span className="badge-warn"> {tool.problem}</span>}
                      </summary>
                      <pre className="tool-schema">{JSON.stringify(tool.input_schema, null, 2)}</pre>
                    </details>
                  </li>
                ))}
              </ul>
            )}
          </article>
        ))}
    </section>
  );
}

function CredentialSelect({ id, value, credentials, onChange }: { id: string; value: string; credentials: string[]; onChange: (v: string) => void }) {
  return (
    <select id={id} className="input" value={value} data-testid={id} onChange={(e) => onChange(e.target.value)}>
      <option value="">None</option>
      {credentials.map((name) => (
        <option key={name} value={name}>
          {name}
        </option>
      ))}
    </select>
  );
}

function NewServerForm({ workspaceId, credentials, onMade }: { workspaceId: number; credentials: string[]; onMade: (s: McpServer) => void }) {
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [credential, setCredential] = useState('');
  const { errors, saving, submit: send } = useFormSubmit<'name' | 'url' | 'credential'>(['name', 'url', 'credential']);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const problems: Partial<Record<'name' | 'url', string>> = {};
    if (!NAME_PATTERN.test(name.trim())) problems.name = 'Letters, digits, - and _, e.g. search.';
    if (!/^https?:\/\/\S+$/.test(url.trim())) problems.url = 'The server’s streamable-HTTP URL, e.g. https://mcp.example.com/mcp.';
    await send(problems, async () => {
      const made = await addServer(workspaceId, { name: name.trim(), url: url.trim(), credential });
      setName('');
      setUrl('');
      setCredential('');
      onMade(made);
    });
  };
  return (
    <form className="models-add" onSubmit={(e) => void submit(e)} noValidate data-testid="mcp-form">
      <div className="models-add-fields">
        <Field id="mcp-name" label="Name" error={errors.name}>
          <input id="mcp-name" className="input" value={name} data-testid="mcp-name" onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field id="mcp-url" label="URL" error={errors.url}>
          <input id="mcp-url" className="input" value={url} data-testid="mcp-url" placeholder="https://…/mcp" onChange={(e) => setUrl(e.target.value)} />
        </Field>
        <Field id="mcp-credential" label="Credential (auth header)" error={errors.credential}>
          <CredentialSelect id="mcp-credential" value={credential} credentials={credentials} onChange={setCredential} />
        </Field>
      </div>
      <FieldError message={errors.form} testId="mcp-form-error" />
      <button type="submit" className="btn btn-primary btn-small" disabled={saving} data-testid="mcp-add">
        {saving ? 'Adding and listing its tools…' : 'Add server'}
      </button>
    </form>
  );
}

function HttpTools({ workspace, canEdit, credentials }: { workspace: WorkspaceSummary; canEdit: boolean; credentials: string[] }) {
  const toast = useToast();
  const { load, reload, update } = useLoad(() => listHttpTools(workspace.id), [workspace.id]);
  const remove = async (tool: HttpTool) => {
    if (!window.confirm(`Delete the HTTP tool “${tool.name}”?`)) return;
    try {
      await deleteHttpTool(workspace.id, tool.name);
      update((tools) => tools.filter((t) => t.name !== tool.name));
    } catch (error) {
      toast.show(`Could not delete: ${errorMessage(error)}`, 'error');
    }
  };
  return (
    <section className="settings-section" data-testid="http-tools">
      <h2>HTTP tools</h2>
      {canEdit && <NewHttpToolForm workspaceId={workspace.id} credentials={credentials} onMade={(tool) => update((tools) => [...tools, tool])} />}
      <LoadStatus load={load} loading="Loading HTTP tools…" errorTitle="Could not load the HTTP tools" onRetry={reload} />
      {load.status === 'ready' && load.data.length === 0 && <EmptyState title="No HTTP tools yet">An API becomes a tool with a method, a URL template and the arguments’ schema.</EmptyState>}
      {load.status === 'ready' && load.data.length > 0 && (
        <table className="table" data-testid="http-tools-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Request</th>
              <th scope="col">Credential</th>
              {canEdit && <th scope="col"><span className="sr-only">Actions</span></th>}
            </tr>
          </thead>
          <tbody>
            {load.data.map((tool) => (
              <tr key={tool.name} data-testid={`http-tool-${tool.name}`}>
                <td>
                  <code>{tool.name}</code>
                  {tool.description && <div className="muted">{tool.description}</div>}
                </td>
                <td>
                  <code>
                    {tool.method} {tool.url}
                  </code>
                </td>
                <td>{tool.credential || <span className="muted">none</span>}</td>
                {canEdit && (
                  <td className="row-actions">
                    <button type="button" className="btn btn-ghost btn-small danger" onClick={() => void remove(tool)} data-testid={`http-delete-${tool.name}`}>
                      Delete
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

type HttpField = 'name' | 'url' | 'method' | 'description' | 'parameters' | 'credential';

function NewHttpToolForm({ workspaceId, credentials, onMade }: { workspaceId: number; credentials: string[]; onMade: (t: HttpTool) => void }) {
  const [name, setName] = useState('');
  const [method, setMethod] = useState<HttpTool['method']>('GET');
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [parameters, setParameters] = useState('{"type": "object", "properties": {}}');
  const [credential, setCredential] = useState('');
  const { errors, saving, submit: send } = useFormSubmit<HttpField>(['name', 'url', 'method', 'description', 'parameters', 'credential']);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const problems: Partial<Record<HttpField, string>> = {};
    let schema: Record<string, unknown> = {};
    try {
      schema = JSON.parse(parameters) as Record<string, unknown>;
    } catch {
      problems.parameters = 'Not JSON: the JSON Schema of the arguments, e.g. {"type": "object", "properties": {"city": {"type": "string"}}}.';
    }
    if (!NAME_PATTERN.test(name.trim())) problems.name = 'Letters, digits, - and _, e.g. weather.';
    if (!/^https?:\/\//.test(url.trim())) problems.url = 'Starts with http:// or https://; the rest may read the arguments, e.g. {{ city | urlencode }}.';
    await send(problems, async () => {
      const made = await addHttpTool(workspaceId, { name: name.trim(), method, url: url.trim(), description, parameters: schema, credential });
      setName('');
      setUrl('');
      setDescription('');
      onMade(made);
    });
  };
  return (
    <form className="models-add" onSubmit={(e) => void submit(e)} noValidate data-testid="http-form">
      <div className="models-add-fields">
        <Field id="http-name" label="Name" error={errors.name}>
          <input id="http-name" className="input" value={name} data-testid="http-name" onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field id="http-method" label="Method" error={errors.method}>
          <select id="http-method" className="input" value={method} data-testid="http-method" onChange={(e) => setMethod(e.target.value as HttpTool['method'])}>
            {['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        </Field>
        <Field id="http-url" label="URL template" error={errors.url}>
          <input id="http-url" className="input" value={url} data-testid="http-url" placeholder="https://api.example.com/weather?city={{ city | urlencode }}" onChange={(e) => setUrl(e.target.value)} />
        </Field>
        <Field id="http-description" label="What it does (the model reads this)" error={errors.description}>
          <input id="http-description" className="input" value={description} data-testid="http-description" onChange={(e) => setDescription(e.target.value)} />
        </Field>
        <Field id="http-parameters" label="Arguments (JSON Schema)" error={errors.parameters}>
          <textarea id="http-parameters" className="input" rows={3} value={parameters} data-testid="http-parameters" onChange={(e) => setParameters(e.target.value)} />
        </Field>
        <Field id="http-credential" label="Credential" error={errors.credential}>
          <CredentialSelect id="http-credential" value={credential} credentials={credentials} onChange={setCredential} />
        </Field>
      </div>
      <FieldError message={errors.form} testId="http-form-error" />
      <button type="submit" className="btn btn-primary btn-small" disabled={saving} data-testid="http-add">
        {saving ? 'Saving…' : 'Add HTTP tool'}
      </button>
    </form>
  );
}
