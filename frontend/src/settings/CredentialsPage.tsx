// /settings/credentials: the workspace's secrets (LLM keys, HTTP tool tokens), named so node
// settings can refer to them. Values are write-only: typed into a password field, sent once, and
// never shown again; the list shows a hint (the last characters) so two keys can be told apart.
// Owners and editors add, replace and delete; everyone else sees the list read-only. An LLM key's
// Test (owners, editors, runners) asks a model through it and shows what the server can do.

import { useEffect, useState, type FormEvent } from 'react';
import { errorMessage } from '../api/client';
import {
  createCredential,
  deleteCredential,
  KIND_LABELS,
  LLM_KINDS,
  listCredentials,
  updateCredential,
  type Credential,
  type CredentialConfig,
  type CredentialKind,
} from '../api/credentials';
import type { WorkspaceSummary } from '../api/workspaces';
import { useToast } from '../components/toast';
import { LoadStatus } from '../components/LoadStatus';
import { EmptyState, Field, FieldError } from '../components/ui';
import { useFormSubmit, type FormErrors } from '../components/useFormSubmit';
import { useLoad } from '../components/useLoad';
import { formatDate } from '../run/format';
import { CredentialTest } from './CredentialTest';

const EDIT_ROLES = new Set(['owner', 'editor']);
// who may test a key: whoever's runs may use it
const RUN_ROLES = new Set(['owner', 'editor', 'runner']);
const KINDS = Object.keys(KIND_LABELS) as CredentialKind[];
const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

type FieldName = 'name' | 'value' | 'kind' | 'config.base_url' | 'config.header';
type FieldErrors = FormErrors<FieldName>;

function configFor(kind: CredentialKind, baseUrl: string, header: string): CredentialConfig {
  if (kind === 'http_header') return { header: header.trim() };
  if ((kind === 'openai' || kind === 'anthropic') && baseUrl.trim()) return { base_url: baseUrl.trim() };
  return {};
}

function describeConfig(credential: Credential): string {
  if (credential.config.base_url) return credential.config.base_url;
  if (credential.config.header) return `header ${credential.config.header}`;
  return credential.kind === 'openai' || credential.kind === 'anthropic' ? "the vendor's API" : '';
}

export function CredentialsPage({ workspace }: { workspace: WorkspaceSummary }) {
  const toast = useToast();
  const canEdit = EDIT_ROLES.has(workspace.role);
  const canTest = RUN_ROLES.has(workspace.role);
  const [replacing, setReplacing] = useState<string | null>(null);
  const [testing, setTesting] = useState<string | null>(null);
  const { load, reload, update } = useLoad((signal) => listCredentials(workspace.id, { signal }), [workspace.id]);

  useEffect(() => {
    document.title = 'Credentials — Flows';
  }, []);

  const put = (credential: Credential, replaces: string = credential.name) =>
    update((credentials) => {
      const others = credentials.filter((c) => c.name !== replaces && c.name !== credential.name);
      return [...others, credential].sort((a, b) => a.name.localeCompare(b.name));
    });

  const remove = async (credential: Credential) => {
    if (!window.confirm(`Delete the credential “${credential.name}”? Nodes that name it will fail until it is added again.`)) return;
    try {
      await deleteCredential(workspace.id, credential.name);
      update((credentials) => credentials.filter((c) => c.name !== credential.name));
      toast.show(`Deleted “${credential.name}”.`, 'success');
    } catch (error) {
      toast.show(`Could not delete: ${errorMessage(error)}`, 'error');
    }
  };

  return (
    <div className="page list-page" data-testid="credentials-page">
      <header className="page-head">
        <div>
          <h1>Credentials</h1>
          <p className="muted">
            Keys and tokens of <strong>{workspace.name}</strong>, encrypted on the server. Nodes name them in their settings (a worker's <em>Credential</em>); a value is never shown
            again once saved.
          </p>
          {!canEdit && (
            <p className="muted" data-testid="credentials-read-only">
              Your role ({workspace.role}) may see the names but not add, replace or delete credentials; owners and editors can.
            </p>
          )}
        </div>
      </header>

      {canEdit && <NewCredentialForm workspaceId={workspace.id} onMade={(credential) => put(credential)} />}

      <LoadStatus load={load} loading="Loading credentials…" errorTitle="Could not load the credentials" errorTestId="credentials-error" onRetry={reload} />
      {load.status === 'ready' && load.data.length === 0 && (
        <div data-testid="credentials-empty">
          <EmptyState title="No credentials yet">
            {canEdit ? 'Add an API key above; LLM nodes use it for their calls.' : 'An owner or editor can add API keys here.'}
          </EmptyState>
        </div>
      )}
      {load.status === 'ready' && load.data.length > 0 && (
        <table className="table" data-testid="credentials-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Value</th>
              <th scope="col">Where</th>
              <th scope="col">Updated</th>
              {(canEdit || canTest) && (
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {load.data.map((credential) => (
              <CredentialRow
                key={credential.name}
                credential={credential}
                canEdit={canEdit}
                canTest={canTest}
                replacing={replacing === credential.name}
                testing={testing === credential.name}
                onReplace={() => setReplacing(credential.name)}
                onTest={() => setTesting((current) => (current === credential.name ? null : credential.name))}
                onCloseTest={() => setTesting(null)}
                onCancel={() => setReplacing(null)}
                onReplaced={(changed) => {
                  put(changed, credential.name);
                  setReplacing(null);
                  toast.show(`Replaced the value of “${changed.name}”.`, 'success');
                }}
                onDelete={() => void remove(credential)}
                workspaceId={workspace.id}
              />
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function CredentialRow(props: {
  credential: Credential;
  canEdit: boolean;
  canTest: boolean;
  replacing: boolean;
  testing: boolean;
  workspaceId: number;
  onReplace: () => void;
  onTest: () => void;
  onCloseTest: () => void;
  onCancel: () => void;
  onReplaced: (credential: Credential) => void;
  onDelete: () => void;
}) {
  const { credential, canEdit, canTest } = props;
  const columns = canEdit || canTest ? 6 : 5;
  const testable = canTest && LLM_KINDS.includes(credential.kind);
  return (
    <>
      <tr data-testid={`credential-${credential.name}`}>
        <td>
          <code>{credential.name}</code>
        </td>
        <td>{KIND_LABELS[credential.kind] ?? credential.kind}</td>
        <td data-testid={`credential-hint-${credential.name}`}>{credential.hint ? <code>{credential.hint}</code> : <span className="muted">set</span>}</td>
        <td className="muted">{describeConfig(credential)}</td>
        <td title={credential.updated_at}>
          {formatDate(credential.updated_at)}
          {credential.created_by && <span className="muted"> · added by {credential.created_by}</span>}
        </td>
        {(canEdit || canTest) && (
          <td className="row-actions">
            {testable && (
              <button
                type="button"
                className="btn btn-ghost btn-small"
                onClick={props.onTest}
                aria-expanded={props.testing}
                aria-label={`Test ${credential.name}`}
                data-testid={`credential-test-button-${credential.name}`}
              >
                Test
              </button>
            )}
            {canEdit && (
              <>
                <button type="button" className="btn btn-ghost btn-small" onClick={props.onReplace} aria-label={`Replace the value of ${credential.name}`} data-testid={`credential-replace-${credential.name}`}>
                  Replace value
                </button>
                <button type="button" className="btn btn-ghost btn-small danger" onClick={props.onDelete} aria-label={`Delete ${credential.name}`} data-testid={`credential-delete-${credential.name}`}>
                  Delete
                </button>
              </>
            )}
          </td>
        )}
      </tr>
      {props.testing && (
        <tr>
          <td colSpan={columns}>
            <CredentialTest workspaceId={props.workspaceId} credential={credential} onClose={props.onCloseTest} />
          </td>
        </tr>
      )}
      {props.replacing && (
        <tr>
          <td colSpan={columns}>
            <ReplaceForm workspaceId={props.workspaceId} credential={credential} onDone={props.onReplaced} onCancel={props.onCancel} />
          </td>
        </tr>
      )}
    </>
  );
}

function ReplaceForm({ workspaceId, credential, onDone, onCancel }: { workspaceId: number; credential: Credential; onDone: (c: Credential) => void; onCancel: () => void }) {
  const [value, setValue] = useState('');
  const { errors, saving, submit: send } = useFormSubmit(['value']);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await send(value ? {} : { value: 'Paste the new value.' }, async () => {
      const changed = await updateCredential(workspaceId, credential.name, { value });
      setValue(''); // the secret does not stay in the page's state
      onDone(changed);
    });
  };

  const id = `credential-new-value-${credential.name}`;
  return (
    <form className="models-add" onSubmit={(e) => void submit(e)} noValidate data-testid={`credential-replace-form-${credential.name}`}>
      <Field id={id} label={<>New value for {credential.name}</>} error={errors.value} errorTestId="credential-replace-error-value">
        <input
          id={id}
          className="input"
          type="password"
          value={value}
          autoComplete="new-password"
          aria-invalid={errors.value ? true : undefined}
          data-testid="credential-new-value"
          onChange={(e) => setValue(e.target.value)}
        />
      </Field>
      <FieldError message={errors.form} testId="credential-replace-error" />
      <div className="page-actions">
        <button type="submit" className="btn btn-primary btn-small" disabled={saving} data-testid="credential-replace-submit">
          {saving ? 'Saving…' : 'Replace'}
        </button>
        <button type="button" className="btn btn-secondary btn-small" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function NewCredentialForm({ workspaceId, onMade }: { workspaceId: number; onMade: (credential: Credential) => void }) {
  const [kind, setKind] = useState<CredentialKind>('openai');
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [baseUrl, setBaseUrl] = useState('');
  const [header, setHeader] = useState('');
  const { errors, saving, submit: send } = useFormSubmit<FieldName>(['name', 'value', 'kind', 'config.base_url', 'config.header']);
  const isLlm = kind === 'openai' || kind === 'anthropic';

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const problems: FieldErrors = {};
    if (!NAME_PATTERN.test(name.trim())) problems.name = 'Use letters, digits, - and _ only, e.g. openai-prod.';
    if (!value) problems.value = 'Paste the key or token.';
    if (kind === 'http_header' && !header.trim()) problems['config.header'] = 'Name the header, e.g. X-Api-Key.';
    await send(problems, async () => {
      const made = await createCredential(workspaceId, { name: name.trim(), kind, value, config: configFor(kind, baseUrl, header) });
      setName('');
      setValue('');
      setBaseUrl('');
      setHeader('');
      onMade(made);
    });
  };

  return (
    <form className="models-add" onSubmit={(e) => void submit(e)} noValidate data-testid="credential-form">
      <div className="models-add-fields">
        <Field id="credential-kind" label="Kind" error={errors.kind} errorTestId="credential-error-kind">
          <select id="credential-kind" className="input" value={kind} data-testid="credential-kind" onChange={(e) => setKind(e.target.value as CredentialKind)}>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {KIND_LABELS[k]}
              </option>
            ))}
          </select>
        </Field>
        <Field id="credential-name" label="Name" error={errors.name} errorTestId="credential-error-name">
          <input
            id="credential-name"
            className="input"
            value={name}
            maxLength={64}
            autoComplete="off"
            placeholder="openai-prod"
            aria-invalid={errors.name ? true : undefined}
            data-testid="credential-name"
            onChange={(e) => setName(e.target.value)}
          />
        </Field>
        <Field id="credential-value" label="Value" error={errors.value} errorTestId="credential-error-value">
          <input
            id="credential-value"
            className="input"
            type="password"
            value={value}
            autoComplete="new-password"
            aria-invalid={errors.value ? true : undefined}
            data-testid="credential-value"
            onChange={(e) => setValue(e.target.value)}
          />
        </Field>
        {isLlm && (
          <Field id="credential-base-url" label={<>Base URL <span className="muted">(optional)</span></>} error={errors['config.base_url']} errorTestId="credential-error-base_url">
            <input
              id="credential-base-url"
              className="input"
              type="url"
              value={baseUrl}
              placeholder={kind === 'openai' ? 'https://api.openai.com/v1' : 'https://api.anthropic.com'}
              aria-invalid={errors['config.base_url'] ? true : undefined}
              data-testid="credential-base-url"
              onChange={(e) => setBaseUrl(e.target.value)}
            />
          </Field>
        )}
        {kind === 'http_header' && (
          <Field id="credential-header" label="Header name" error={errors['config.header']} errorTestId="credential-error-header">
            <input
              id="credential-header"
              className="input"
              value={header}
              placeholder="X-Api-Key"
              aria-invalid={errors['config.header'] ? true : undefined}
              data-testid="credential-header"
              onChange={(e) => setHeader(e.target.value)}
            />
          </Field>
        )}
      </div>
      <FieldError message={errors.form} testId="credential-error" />
      <div className="page-actions">
        <button type="submit" className="btn btn-primary" disabled={saving} data-testid="credential-submit">
          {saving ? 'Saving…' : 'Add credential'}
        </button>
      </div>
    </form>
  );
}
