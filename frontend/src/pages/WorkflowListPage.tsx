// The user's workflows: create (blank or from an example), open, rename, duplicate, export,
// delete, import a JSON file.

import { useCallback, useEffect, useRef, useState, type ChangeEvent } from 'react';
import { ApiError, errorMessage } from '../api/client';
import type { Graph } from '../api/graph';
import { api, versionOf, type WorkflowSummary } from '../api/resources';
import { needsLogin, SignedOut } from '../components/LoadStatus';
import { Modal } from '../components/Modal';
import { useToast } from '../components/toast';
import { EmptyState, ErrorState, LoadingState } from '../components/ui';
import { formatDate } from '../run/format';
import { Link, navigate, paths } from '../router';
import { ApprovalsLink } from '../approvals/ApprovalsLink';
import { ExamplesDialog } from './ExamplesDialog';
import { WebhookDialog } from '../webhooks/WebhookDialog';

type Dialog =
  | { kind: 'create' }
  | { kind: 'examples' }
  | { kind: 'rename'; workflow: WorkflowSummary }
  | { kind: 'delete'; workflow: WorkflowSummary }
  | { kind: 'webhook'; workflow: WorkflowSummary }
  | null;

/** Accept what our export writes ({name, graph, …}), a bare graph, or {graph}. */
export function parseImport(text: string, fileName: string): { name: string; description: string; graph: Graph } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new Error(`The file is not valid JSON (${(error as Error).message}).`);
  }
  const record = (data ?? {}) as { name?: unknown; description?: unknown; graph?: unknown; nodes?: unknown; edges?: unknown };
  const graph = (record.graph ?? (Array.isArray(record.nodes) ? { nodes: record.nodes, edges: record.edges ?? [] } : null)) as Graph | null;
  if (!graph || !Array.isArray(graph.nodes)) {
    throw new Error('The file holds no flow: expected {"nodes": [...], "edges": [...]} or an exported workflow.');
  }
  const name = typeof record.name === 'string' && record.name.trim() ? record.name.trim() : fileName.replace(/\.json$/i, '') || 'Imported flow';
  // an exported workflow's description comes back with it (it was dropped)
  const description = typeof record.description === 'string' ? record.description : '';
  return { name, description, graph: { nodes: graph.nodes, edges: Array.isArray(graph.edges) ? graph.edges : [] } };
}

function download(name: string, data: unknown) {
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `${name.replace(/[^\w.-]+/g, '_') || 'workflow'}.json`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function WorkflowListPage() {
  const toast = useToast();
  const [items, setItems] = useState<WorkflowSummary[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [count, setCount] = useState(0);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [dialog, setDialog] = useState<Dialog>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  // the search box: the server filters (the list is paged), a moment after typing stops
  const [query, setQuery] = useState('');
  const [search, setSearch] = useState('');
  useEffect(() => {
    const timer = setTimeout(() => setSearch(query.trim()), 250);
    return () => clearTimeout(timer);
  }, [query]);
  const load = useCallback(() => {
    setError(null);
    api.listWorkflows(undefined, search).then(
      (page) => {
        setItems(page.results);
        setNext(page.next);
        setCount(page.count);
      },
      (cause) => setError(cause),
    );
  }, [search]);
  useEffect(() => {
    document.title = 'Workflows — Flows';
    load();
  }, [load]);

  const loadMore = async () => {
    if (!next) return;
    try {
      const page = await api.listWorkflows(next);
      setItems((list) => [...(list ?? []), ...page.results]);
      setNext(page.next);
    } catch (cause) {
      toast.show(errorMessage(cause), 'error');
    }
  };

  const duplicate = async (workflow: WorkflowSummary) => {
    setBusy(workflow.id);
    try {
      const copy = await api.duplicateWorkflow(workflow.id);
      setItems((list) => [copy, ...(list ?? [])]);
      setCount((n) => n + 1);
      toast.show(`Duplicated as “${copy.name}”.`, 'success');
    } catch (cause) {
      toast.show(`Could not duplicate: ${errorMessage(cause)}`, 'error');
    } finally {
      setBusy(null);
    }
  };

  const exportOne = async (workflow: WorkflowSummary) => {
    setBusy(workflow.id);
    try {
      download(workflow.name, await api.exportWorkflow(workflow.id));
    } catch (cause) {
      toast.show(`Could not export: ${errorMessage(cause)}`, 'error');
    } finally {
      setBusy(null);
    }
  };

  const onImportFile = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    event.target.value = ''; // choosing the same file again must fire again
    if (!file) return;
    try {
      const { name, description, graph } = parseImport(await file.text(), file.name);
      const created = await api.importWorkflow({ name, description, graph });
      toast.show(`Imported “${created.name}”.`, 'success');
      navigate(paths.editor(created.id));
    } catch (cause) {
      toast.show(`Could not import: ${errorMessage(cause)}`, 'error');
    }
  };

  if (needsLogin(error)) return <SignedOut className="page page-center" message="Sign in to see your workflows." />;

  return (
    <div className="page list-page">
      <header className="page-head">
        <div>
          <h1>Workflows</h1>
          <p className="muted">{items ? `${count} workflow${count === 1 ? '' : 's'}${search ? ` matching “${search}”` : ''}` : '\u00a0'}</p>
        </div>
        <div className="page-actions">
          <ApprovalsLink className="btn btn-secondary" />
          <Link to={paths.runs()} className="btn btn-secondary" data-testid="all-runs-link">
            Runs
          </Link>
          <Link to={paths.knowledge()} className="btn btn-secondary" data-testid="knowledge-link">
            Knowledge
          </Link>
          <Link to={paths.models()} className="btn btn-secondary" data-testid="models-link">
            Settings
          </Link>
          <input ref={fileInput} type="file" accept="application/json,.json" hidden onChange={onImportFile} data-testid="import-file" />
          <button type="button" className="btn btn-secondary" onClick={() => fileInput.current?.click()} data-testid="import">
            Import JSON
          </button>
          <button type="button" className="btn btn-secondary" onClick={() => setDialog({ kind: 'examples' })} aria-haspopup="dialog" data-testid="examples-menu">
            New from example
          </button>
          <button type="button" className="btn btn-primary" onClick={() => setDialog({ kind: 'create' })} data-testid="new-workflow">
            + New workflow
          </button>
        </div>
      </header>

      {(search || count > 0) && (
        <div className="list-search">
          <input
            type="search"
            className="input"
            placeholder="Search workflows by name or description…"
            aria-label="Search workflows"
            value={query}
            data-testid="workflow-search"
            onChange={(e) => setQuery(e.target.value)}
          />
        </div>
      )}
      {error && <ErrorState message={errorMessage(error)} onRetry={load} />}
      {!error && items === null && <LoadingState label="Loading workflows…" />}
      {items && items.length === 0 && search && (
        <p className="muted" data-testid="workflow-search-empty">
          No workflow matches “{search}”.
        </p>
      )}
      {items && items.length === 0 && !search && (
        <EmptyState
          title="No workflows yet"
          icon="✦"
          action={
            <>
              <button type="button" className="btn btn-primary" onClick={() => setDialog({ kind: 'create' })}>
                Create your first workflow
              </button>
              <button type="button" className="btn btn-secondary" onClick={() => setDialog({ kind: 'examples' })}>
                Start from an example
              </button>
              <button type="button" className="btn btn-secondary" onClick={() => fileInput.current?.click()}>
                Import a JSON file
              </button>
            </>
          }
        >
          A workflow is a flow of agents, routers and people, built on a canvas.
        </EmptyState>
      )}
      {items && items.length > 0 && (
        <table className="table" data-testid="workflow-list">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Version</th>
              <th scope="col">Updated</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((workflow) => (
              <tr key={workflow.id} data-testid={`workflow-${workflow.id}`}>
                <td>
                  <Link to={paths.editor(workflow.id)} className="row-link">
                    {workflow.name || 'Untitled'}
                  </Link>
                  {workflow.description && <div className="muted small">{workflow.description}</div>}
                </td>
                <td>
                  {versionOf(workflow) ? `v${versionOf(workflow)}` : <span className="muted">—</span>}
                  {workflow.valid === false && <span className="chip static chip-warn" title="The current version has problems to fix before it can run">has problems</span>}
                  {workflow.published && (
                    <span
                      className="chip static chip-ok"
                      data-testid={`workflow-published-${workflow.id}`}
                      title={`API calls, webhooks and MCP run version ${workflow.published.number}${workflow.published.name ? ` “${workflow.published.name}”` : ''}`}
                    >
                      v{workflow.published.number} published
                    </span>
                  )}
                </td>
                <td title={workflow.updated_at}>{formatDate(workflow.updated_at)}</td>
                <td className="row-actions">
                  <button type="button" className="btn btn-ghost btn-small" disabled={busy === workflow.id} onClick={() => setDialog({ kind: 'rename', workflow })} aria-label={`Rename ${workflow.name}`}>
                    Rename
                  </button>
                  <button type="button" className="btn btn-ghost btn-small" disabled={busy === workflow.id} onClick={() => duplicate(workflow)} aria-label={`Duplicate ${workflow.name}`}>
                    Duplicate
                  </button>
                  <button type="button" className="btn btn-ghost btn-small" disabled={busy === workflow.id} onClick={() => exportOne(workflow)} aria-label={`Export ${workflow.name}`}>
                    Export
                  </button>
                  <button type="button" className="btn btn-ghost btn-small" onClick={() => setDialog({ kind: 'webhook', workflow })} aria-label={`Webhook of ${workflow.name}`} data-testid={`webhook-${workflow.id}`}>
                    Webhook
                  </button>
                  <button type="button" className="btn btn-ghost btn-small danger" disabled={busy === workflow.id} onClick={() => setDialog({ kind: 'delete', workflow })} aria-label={`Delete ${workflow.name}`}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {next && (
        <div className="center">
          <button type="button" className="btn btn-secondary" onClick={loadMore}>
            Load more
          </button>
        </div>
      )}

      {dialog?.kind === 'create' && (
        <NameDialog
          title="New workflow"
          submitText="Create"
          initialName=""
          withDescription
          onClose={() => setDialog(null)}
          onSubmit={async (name, description) => {
            const created = await api.createWorkflow({ name, description, graph: { nodes: [], edges: [] } });
            setDialog(null);
            navigate(paths.editor(created.id));
          }}
        />
      )}
      {dialog?.kind === 'examples' && (
        <ExamplesDialog
          onClose={() => setDialog(null)}
          onImported={(created) => {
            setDialog(null);
            toast.show(`Created “${created.name}” from an example.`, 'success');
            navigate(paths.editor(created.id));
          }}
        />
      )}
      {dialog?.kind === 'rename' && (
        <NameDialog
          title="Rename workflow"
          submitText="Rename"
          initialName={dialog.workflow.name}
          onClose={() => setDialog(null)}
          onSubmit={async (name) => {
            const result = await api.renameWorkflow(dialog.workflow.id, name);
            setItems((list) => (list ?? []).map((w) => (w.id === dialog.workflow.id ? { ...w, name: result.name ?? name } : w)));
            setDialog(null);
          }}
        />
      )}
      {dialog?.kind === 'webhook' && (
        <WebhookDialog
          workflow={dialog.workflow}
          onClose={() => setDialog(null)}
          onChange={(exists) => {
            const id = dialog.workflow.id;
            setItems((list) => (list ?? []).map((w) => (w.id === id ? { ...w, has_webhook: exists } : w)));
          }}
        />
      )}
      {dialog?.kind === 'delete' && (
        <Modal
          title="Delete workflow?"
          open
          onClose={() => setDialog(null)}
          testId="delete-dialog"
          footer={
            <>
              <span className="spacer" />
              <button type="button" className="btn btn-secondary" onClick={() => setDialog(null)}>
                Keep it
              </button>
              <button
                type="button"
                className="btn btn-danger"
                data-testid="confirm-delete"
                onClick={async () => {
                  const target = dialog.workflow;
                  try {
                    await api.deleteWorkflow(target.id);
                    setItems((list) => (list ?? []).filter((w) => w.id !== target.id));
                    setCount((n) => Math.max(0, n - 1));
                    toast.show(`Deleted “${target.name}”.`, 'success');
                  } catch (cause) {
                    toast.show(`Could not delete: ${errorMessage(cause)}`, 'error');
                  }
                  setDialog(null);
                }}
              >
                Delete
              </button>
            </>
          }
        >
          <p>
            “{dialog.workflow.name}” and all its versions will be deleted. Past runs may be deleted with it. This cannot be undone.
          </p>
        </Modal>
      )}
    </div>
  );
}

function NameDialog({
  title,
  submitText,
  initialName,
  withDescription,
  onClose,
  onSubmit,
}: {
  title: string;
  submitText: string;
  initialName: string;
  withDescription?: boolean;
  onClose: () => void;
  onSubmit: (name: string, description: string) => Promise<void>;
}) {
  const [name, setName] = useState(initialName);
  const [description, setDescription] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    if (!name.trim()) {
      setError('Give it a name.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await onSubmit(name.trim(), description.trim());
    } catch (cause) {
      setError(cause instanceof ApiError ? (cause.fieldMessage('name') ?? cause.message) : errorMessage(cause));
      setBusy(false);
    }
  };
  return (
    <Modal
      title={title}
      open
      onClose={onClose}
      testId="name-dialog"
      footer={
        <>
          <span className="spacer" />
          <button type="button" className="btn btn-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="btn btn-primary" onClick={submit} disabled={busy} data-testid="name-submit">
            {busy ? 'Working…' : submitText}
          </button>
        </>
      }
    >
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <div className={`field${error ? ' field-invalid' : ''}`}>
          <label className="field-label" htmlFor="workflow-name-input">
            Name
          </label>
          <input
            id="workflow-name-input"
            className="input"
            autoFocus
            value={name}
            maxLength={200}
            data-testid="name-input"
            aria-invalid={!!error || undefined}
            onChange={(e) => setName(e.target.value)}
          />
          {error && (
            <p className="field-error" role="alert">
              {error}
            </p>
          )}
        </div>
        {withDescription && (
          <div className="field">
            <label className="field-label" htmlFor="workflow-description-input">
              Description <span className="muted small">(optional)</span>
            </label>
            <textarea id="workflow-description-input" className="input" rows={3} value={description} onChange={(e) => setDescription(e.target.value)} />
          </div>
        )}
        <button type="submit" hidden />
      </form>
    </Modal>
  );
}
