// /settings/tokens: your personal API tokens for scripts. A new token's secret is shown once,
// with a copy button and a curl example; the list shows names and prefixes only. Tokens are
// yours, not the workspace's: they act with your role in every workspace you belong to.

import { useEffect, useState, type FormEvent } from 'react';
import { errorMessage } from '../api/client';
import { createToken, deleteToken, listTokens, type ApiToken, type NewApiToken } from '../api/tokens';
import { useToast } from '../components/toast';
import { LoadStatus } from '../components/LoadStatus';
import { EmptyState, Field, FieldError } from '../components/ui';
import { useFormSubmit } from '../components/useFormSubmit';
import { useLoad } from '../components/useLoad';
import { formatDate } from '../run/format';
import { ShownOnce } from '../webhooks/CopyField';
import { formatMoment } from '../webhooks/when';

export const EXPIRY_CHOICES: { label: string; days: number | null }[] = [
  { label: '30 days', days: 30 },
  { label: '90 days', days: 90 },
  { label: '1 year', days: 365 },
  { label: 'never', days: null },
];

export function curlWithToken(secret: string, origin: string = window.location.origin): string {
  return `curl -H 'Authorization: Token ${secret}' ${origin}/api/workflows/`;
}

export function TokensPage() {
  const toast = useToast();
  const [made, setMade] = useState<NewApiToken | null>(null);
  const { load, reload, update } = useLoad((signal) => listTokens({ signal }), []);

  useEffect(() => {
    document.title = 'API tokens — Flows';
  }, []);

  const remove = async (token: ApiToken) => {
    if (!window.confirm(`Delete the token “${token.name}”? Scripts using it stop working at once.`)) return;
    try {
      await deleteToken(token.id);
      update((tokens) => tokens.filter((t) => t.id !== token.id));
      if (made?.id === token.id) setMade(null);
      toast.show(`Deleted “${token.name}”.`, 'success');
    } catch (error) {
      toast.show(`Could not delete: ${errorMessage(error)}`, 'error');
    }
  };

  return (
    <div className="page list-page" data-testid="tokens-page">
      <header className="page-head">
        <div>
          <h1>API tokens</h1>
          <p className="muted">
            For scripts: send <code>Authorization: Token &lt;secret&gt;</code>. A token acts as you, with your role in each workspace. Yours only, in every workspace.
          </p>
        </div>
      </header>

      <NewTokenForm
        onMade={(token) => {
          setMade(token);
          update((tokens) => [token, ...tokens]);
        }}
      />

      {made && (
        <ShownOnce
          testId="token-made"
          value={made.secret}
          label="Secret"
          copyTestId="token-secret"
          after={
            <>
              <pre className="code-block" data-testid="token-curl">
                {curlWithToken(made.secret)}
              </pre>
              <button type="button" className="btn btn-secondary btn-small" onClick={() => setMade(null)} data-testid="token-made-done">
                I have stored it
              </button>
            </>
          }
        >
          Your new token <strong>{made.name}</strong>. Copy the secret now: it is shown only this once.
        </ShownOnce>
      )}

      <LoadStatus load={load} loading="Loading your tokens…" errorTitle="Could not load your tokens" errorTestId="tokens-error" onRetry={reload} />
      {load.status === 'ready' && load.data.length === 0 && (
        <div data-testid="tokens-empty">
          <EmptyState title="No API tokens yet">Make one above to call the API from a script.</EmptyState>
        </div>
      )}
      {load.status === 'ready' && load.data.length > 0 && (
        <table className="table" data-testid="tokens-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Starts with</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Expires</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {load.data.map((token) => (
              <tr key={token.id} data-testid={`token-${token.name}`}>
                <td>{token.name}</td>
                <td>
                  <code>{token.prefix}…</code>
                </td>
                <td title={token.created_at}>{formatDate(token.created_at)}</td>
                <td title={token.last_used_at ?? undefined}>{token.last_used_at ? formatDate(token.last_used_at) : <span className="muted">never</span>}</td>
                <td title={token.expires_at ?? undefined}>
                  {token.expired ? (
                    <span className="chip static chip-warn" data-testid={`token-expired-${token.name}`}>
                      expired
                    </span>
                  ) : token.expires_at ? (
                    formatMoment(token.expires_at)
                  ) : (
                    <span className="muted">never</span>
                  )}
                </td>
                <td className="row-actions">
                  <button type="button" className="btn btn-ghost btn-small danger" onClick={() => void remove(token)} aria-label={`Delete ${token.name}`} data-testid={`token-delete-${token.name}`}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function NewTokenForm({ onMade }: { onMade: (token: NewApiToken) => void }) {
  const [name, setName] = useState('');
  const [days, setDays] = useState<string>('90');
  const { errors, saving, submit: send } = useFormSubmit(['name', 'expires_in_days']);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await send(name.trim() ? {} : { name: 'Name the token after where it will be used, e.g. “nightly report”.' }, async () => {
      onMade(await createToken({ name: name.trim(), expires_in_days: days === 'never' ? null : Number(days) }));
      setName('');
    });
  };

  return (
    <form className="models-add" onSubmit={(e) => void submit(e)} noValidate data-testid="token-form">
      <div className="models-add-fields">
        <Field id="token-name" label="Name" error={errors.name} errorTestId="token-error-name">
          <input
            id="token-name"
            className="input"
            value={name}
            maxLength={100}
            autoComplete="off"
            aria-invalid={errors.name ? true : undefined}
            data-testid="token-name"
            onChange={(e) => setName(e.target.value)}
          />
        </Field>
        <Field id="token-expiry" label="Expires after" error={errors.expires_in_days} errorTestId="token-error-expires_in_days">
          <select id="token-expiry" value={days} data-testid="token-expiry" onChange={(e) => setDays(e.target.value)}>
            {EXPIRY_CHOICES.map((choice) => (
              <option key={choice.label} value={choice.days === null ? 'never' : String(choice.days)}>
                {choice.label}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <FieldError message={errors.form} testId="token-error" />
      <div className="page-actions">
        <button type="submit" className="btn btn-primary" disabled={saving} data-testid="token-submit">
          {saving ? 'Creating…' : 'Create token'}
        </button>
      </div>
    </form>
  );
}
