// The "Webhook" dialog of a workflow: make a secret URL that starts a run with the posted JSON,
// rotate its secret, switch it on and off, set its rate limit, delete it. The URL is shown once,
// right after it is made, with a curl example; afterwards only its first characters are.

import { useEffect, useState } from 'react';
import { ApiError, errorMessage } from '../api/client';
import type { WorkflowSummary } from '../api/resources';
import { createWebhook, curlExample, deleteWebhook, getWebhook, updateWebhook, type NewWebhook, type Webhook } from '../api/webhooks';
import { Modal } from '../components/Modal';
import { ErrorState, LoadingState } from '../components/ui';
import { ShownOnce } from './CopyField';
import { formatMoment } from './when';

type Load = { status: 'loading' } | { status: 'error'; error: unknown } | { status: 'ready'; webhook: Webhook | null };

export function WebhookDialog({
  workflow,
  onClose,
  onChange,
}: {
  workflow: WorkflowSummary;
  onClose: () => void;
  /** the workflow has (true) or no longer has (false) a webhook: the list keeps it for next time */
  onChange?: (exists: boolean) => void;
}) {
  const [load, setLoad] = useState<Load>({ status: 'loading' });
  const [made, setMade] = useState<NewWebhook | null>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [limit, setLimit] = useState('');
  const [limitError, setLimitError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    if (workflow.has_webhook === false && attempt === 0) {
      // the list knows there is none: no request that can only answer 404 (a console error)
      setLoad({ status: 'ready', webhook: null });
      setLimit('60');
      return () => controller.abort();
    }
    setLoad({ status: 'loading' });
    getWebhook(workflow.id, { signal: controller.signal })
      .then((webhook) => {
        setLoad({ status: 'ready', webhook });
        setLimit(webhook ? String(webhook.rate_limit_per_minute) : '60');
      })
      .catch((error: unknown) => {
        if (error instanceof DOMException && error.name === 'AbortError') return;
        setLoad({ status: 'error', error });
      });
    return () => controller.abort();
  }, [workflow.id, attempt]);

  const act = async (work: () => Promise<Webhook | null>) => {
    setBusy(true);
    setProblem(null);
    setLimitError(null);
    try {
      const webhook = await work();
      setLoad({ status: 'ready', webhook });
      onChange?.(webhook !== null);
      if (webhook) setLimit(String(webhook.rate_limit_per_minute));
    } catch (error) {
      const field = error instanceof ApiError ? error.fieldMessage('rate_limit_per_minute') : undefined;
      if (field) setLimitError(field);
      else setProblem(errorMessage(error));
    } finally {
      setBusy(false);
    }
  };

  const parsedLimit = (): number | undefined | null => {
    const value = Number(limit);
    if (!limit.trim()) return undefined;
    if (!Number.isInteger(value) || value < 1) {
      setLimitError('A whole number of calls a minute, at least 1.');
      return null;
    }
    return value;
  };

  const make = () => {
    const rate = parsedLimit();
    if (rate === null) return;
    void act(async () => {
      const created = await createWebhook(workflow.id, rate === undefined ? {} : { rate_limit_per_minute: rate });
      setMade(created);
      return created;
    });
  };

  const webhook = load.status === 'ready' ? load.webhook : null;

  return (
    <Modal title={`Webhook — ${workflow.name}`} open onClose={onClose} wide testId="webhook-dialog">
      {load.status === 'loading' && <LoadingState label="Loading the webhook…" />}
      {load.status === 'error' && <ErrorState title="Could not load the webhook" message={errorMessage(load.error)} onRetry={() => setAttempt((n) => n + 1)} />}
      {problem && (
        <div className="banner banner-error" role="alert" data-testid="webhook-problem">
          {problem}
        </div>
      )}
      {made && (
        <ShownOnce
          testId="webhook-made"
          value={made.url}
          label="Webhook URL"
          copyTestId="webhook-url"
          after={
            <>
              <pre className="code-block" data-testid="webhook-curl">
                {curlExample(made.url)}
              </pre>
              <p className="muted small">The posted JSON is the run's input; the answer (202) names the run and its API URL.</p>
            </>
          }
        >
          Copy the URL now: it is shown only this once. Anyone who has it can start runs of this workflow.
        </ShownOnce>
      )}
      {load.status === 'ready' && !webhook && (
        <div data-testid="webhook-none">
          <p>This workflow has no webhook. A webhook is a secret URL: a POST with a JSON body starts a run of the published version (the latest saved one while none is published) with that JSON as its input.</p>
          <LimitField value={limit} error={limitError} disabled={busy} onChange={setLimit} />
          <button type="button" className="btn btn-primary" disabled={busy} onClick={make} data-testid="webhook-create">
            {busy ? 'Creating…' : 'Create webhook'}
          </button>
        </div>
      )}
      {load.status === 'ready' && webhook && (
        <div data-testid="webhook-details">
          <dl className="facts">
            <dt>URL</dt>
            <dd>
              <code data-testid="webhook-prefix">/hooks/{webhook.prefix}…/</code>
            </dd>
            <dt>Made by</dt>
            <dd>{webhook.created_by ?? '—'} (runs it starts are theirs)</dd>
            <dt>Last called</dt>
            <dd data-testid="webhook-last">{webhook.last_triggered_at ? formatMoment(webhook.last_triggered_at) : 'never'}</dd>
          </dl>
          <label style={{ display: 'flex', gap: 8, alignItems: 'center', marginBottom: 12 }}>
            <input
              type="checkbox"
              checked={webhook.enabled}
              disabled={busy}
              data-testid="webhook-enabled"
              onChange={(event) => {
                const enabled = event.target.checked;
                void act(() => updateWebhook(workflow.id, { enabled }));
              }}
            />
            <span>{webhook.enabled ? 'On: calls start runs' : 'Off: calls get 404'}</span>
          </label>
          <LimitField value={limit} error={limitError} disabled={busy} onChange={setLimit} />
          <div className="page-actions">
            <button
              type="button"
              className="btn btn-secondary btn-small"
              disabled={busy || limit === String(webhook.rate_limit_per_minute)}
              data-testid="webhook-save-limit"
              onClick={() => {
                const rate = parsedLimit();
                if (rate === null || rate === undefined) return;
                void act(() => updateWebhook(workflow.id, { rate_limit_per_minute: rate }));
              }}
            >
              Save limit
            </button>
            <span className="spacer" />
            <button
              type="button"
              className="btn btn-secondary"
              disabled={busy}
              data-testid="webhook-rotate"
              onClick={() => {
                if (window.confirm('Make a new secret URL? The current one stops working at once.')) make();
              }}
            >
              Rotate secret
            </button>
            <button
              type="button"
              className="btn btn-danger"
              disabled={busy}
              data-testid="webhook-delete"
              onClick={() => {
                if (!window.confirm('Delete the webhook? Its URL stops working.')) return;
                setMade(null);
                void act(async () => {
                  await deleteWebhook(workflow.id);
                  return null;
                });
              }}
            >
              Delete
            </button>
          </div>
        </div>
      )}
    </Modal>
  );
}

function LimitField({ value, error, disabled, onChange }: { value: string; error: string | null; disabled: boolean; onChange: (value: string) => void }) {
  return (
    <div className="field">
      <label className="field-label" htmlFor="webhook-limit">
        Runs a minute at most
      </label>
      <input
        id="webhook-limit"
        className="input input-number"
        inputMode="numeric"
        value={value}
        disabled={disabled}
        aria-invalid={error ? true : undefined}
        data-testid="webhook-limit"
        onChange={(event) => onChange(event.target.value)}
      />
      {error && (
        <div className="field-error" role="alert" data-testid="webhook-limit-error">
          {error}
        </div>
      )}
      <p className="field-help">Calls over the limit get 429 with Retry-After.</p>
    </div>
  );
}
