// /settings/models: the workspace's model catalogue. Prices, context and how the model's server is
// asked (structured output, streamed usage, tools: auto detects them) edit inline with a Save per
// row; the workspace's own entries ("custom", or "overridden" built-ins) can be reset; a form adds
// a model. The server's field errors show under the fields.

import { useCallback, useEffect, useReducer, useState, type FormEvent } from 'react';
import { errorMessage } from '../api/client';
import { listModels, resetModel, saveModel, setCachedModels, type ModelEntry } from '../api/models';
import { useToast } from '../components/toast';
import { LoadStatus } from '../components/LoadStatus';
import { EmptyState, FieldError as SharedFieldError, Spinner } from '../components/ui';
import { useLoad } from '../components/useLoad';
import {
  apiFieldErrors,
  CAPABILITIES,
  canReset,
  EMPTY_DRAFT,
  formatContext,
  initialRow,
  isDirty,
  parseDraft,
  rowReducer,
  sourceBadge,
  type Draft,
  type FieldErrors,
} from './catalogue';

export function ModelsPage() {
  const [adding, setAdding] = useState(false);
  const { load, reload, set } = useLoad(
    (signal) =>
      listModels({ signal }).then((models) => {
        setCachedModels(models);
        return models;
      }),
    [],
  );

  useEffect(() => {
    document.title = 'Models — Flows';
  }, []);

  const replace = useCallback(
    (models: ModelEntry[]) => {
      set(models);
      setCachedModels(models);
    },
    [set],
  );

  return (
    <div className="page list-page models-page" data-testid="models-page">
      <header className="page-head">
        <div>
          <h1>Models</h1>
          <p className="muted">
            Prices in USD per million tokens. Custom entries and overrides apply to this workspace. <em>Server</em> says how the model's server is asked for JSON answers,
            streamed token counts and tools; <em>auto</em> finds out from the server (a credential's <em>Test</em> shows what it found).
          </p>
        </div>
        <div className="page-actions">
          <button type="button" className="btn btn-primary" onClick={() => setAdding((open) => !open)} aria-expanded={adding} data-testid="model-add">
            + Add model
          </button>
        </div>
      </header>

      {adding && <AddModelForm onAdded={(models) => { replace(models); setAdding(false); }} onCancel={() => setAdding(false)} />}

      <LoadStatus
        load={load}
        loading="Loading models…"
        errorTitle="Could not load the models"
        errorTestId="models-error"
        onRetry={reload}
        signedOut="Sign in to see the models."
      />
      {load.status === 'ready' && load.data.length === 0 && (
        <div data-testid="models-empty">
          <EmptyState title="No models yet" action={<button type="button" className="btn btn-primary" onClick={() => setAdding(true)}>Add a model</button>}>
            The catalogue is empty. Add a model with its prices.
          </EmptyState>
        </div>
      )}
      {load.status === 'ready' && load.data.length > 0 && (
        <table className="table models-table" data-testid="models-table">
          <thead>
            <tr>
              <th>Model</th>
              <th>Input $/M</th>
              <th>Output $/M</th>
              <th>Context</th>
              <th>Server</th>
              <th>Source</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {load.data.map((entry) => (
              // a new entry object (after a save or reset) starts the row afresh
              <ModelRow
                key={`${entry.model}|${entry.source}|${entry.input_price}|${entry.output_price}|${entry.context}|${entry.structured_output}|${entry.stream_usage}|${entry.tools}`}
                entry={entry}
                onChanged={replace}
              />
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function FieldError({ name, message }: { name: string; message?: string }) {
  return <SharedFieldError message={message} testId={`field-error-${name}`} />;
}

function ModelRow({ entry, onChanged }: { entry: ModelEntry; onChanged: (models: ModelEntry[]) => void }) {
  const [state, dispatch] = useReducer(rowReducer, entry, initialRow);
  const [resetting, setResetting] = useState(false);
  const toast = useToast();
  const dirty = isDirty(state.draft, entry);
  const badge = sourceBadge(entry);

  const save = async () => {
    const parsed = parseDraft(state.draft);
    if (parsed.errors) {
      dispatch({ type: 'failed', errors: parsed.errors, error: null });
      return;
    }
    dispatch({ type: 'saving' });
    try {
      const models = await saveModel(parsed.input);
      dispatch({ type: 'saved', entry: models.find((m) => m.model === entry.model) ?? entry });
      onChanged(models);
      toast.show(`Saved ${entry.model}.`, 'success');
    } catch (error) {
      const { fields, form } = apiFieldErrors(error);
      dispatch({ type: 'failed', errors: fields, error: form });
    }
  };

  const reset = async () => {
    setResetting(true);
    try {
      const models = await resetModel(entry.model);
      onChanged(models);
      toast.show(badge === 'custom' ? `Removed ${entry.model}.` : `${entry.model} is back to the built-in prices.`, 'success');
    } catch (error) {
      toast.show(errorMessage(error), 'error');
      setResetting(false);
    }
  };

  const input = (name: 'input_price' | 'output_price' | 'context', label: string) => (
    <td>
      <input
        className="input input-number"
        type="text"
        inputMode={name === 'context' ? 'numeric' : 'decimal'}
        aria-label={`${label} for ${entry.model}`}
        aria-invalid={state.errors[name] ? true : undefined}
        placeholder={name === 'context' ? formatContext(null) : undefined}
        value={state.draft[name]}
        disabled={state.saving}
        data-testid={`model-${name}-${entry.model}`}
        onChange={(e) => dispatch({ type: 'edit', field: name, value: e.target.value })}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && dirty) void save();
        }}
      />
      <FieldError name={name} message={state.errors[name]} />
    </td>
  );

  return (
    <tr data-testid={`model-row-${entry.model}`} data-source={badge} data-dirty={dirty || undefined}>
      <td>
        <code>{entry.model}</code>
        {entry.note && (
          <div className="field-help muted" data-testid={`model-note-${entry.model}`}>
            {entry.note}
          </div>
        )}
        <FieldError name="model" message={state.errors.model} />
        {state.error && (
          <div className="field-error" role="alert" data-testid={`model-error-${entry.model}`}>
            {state.error}
          </div>
        )}
      </td>
      {input('input_price', 'Input price')}
      {input('output_price', 'Output price')}
      {input('context', 'Context')}
      <td className="model-capabilities">
        {CAPABILITIES.map(({ name, label, choices }) => (
          <label key={name} className="model-capability">
            <span className="muted">{label}</span>
            <select
              className="input input-small"
              aria-label={`${label} for ${entry.model}`}
              aria-invalid={state.errors[name] ? true : undefined}
              value={state.draft[name]}
              disabled={state.saving}
              data-testid={`model-${name}-${entry.model}`}
              onChange={(e) => dispatch({ type: 'edit', field: name, value: e.target.value })}
            >
              {choices.map((choice) => (
                <option key={choice.value} value={choice.value}>
                  {choice.label}
                </option>
              ))}
            </select>
            <FieldError name={name} message={state.errors[name]} />
          </label>
        ))}
      </td>
      <td>
        <span className={`model-badge model-badge-${badge}`} data-testid={`model-source-${entry.model}`}>
          {badge}
        </span>
      </td>
      <td className="model-actions">
        <button type="button" className="btn btn-secondary btn-small" disabled={!dirty || state.saving} onClick={() => void save()} data-testid={`model-save-${entry.model}`}>
          {state.saving ? <Spinner small label="Saving" /> : 'Save'}
        </button>
        {canReset(entry) && (
          <button
            type="button"
            className="btn btn-ghost btn-small"
            disabled={resetting || state.saving}
            title={badge === 'custom' ? 'Remove this model from the workspace' : 'Back to the built-in prices'}
            onClick={() => void reset()}
            data-testid={`model-reset-${entry.model}`}
          >
            {badge === 'custom' ? 'Remove' : 'Reset'}
          </button>
        )}
      </td>
    </tr>
  );
}

function AddModelForm({ onAdded, onCancel }: { onAdded: (models: ModelEntry[]) => void; onCancel: () => void }) {
  const [draft, setDraft] = useState<Draft>(EMPTY_DRAFT);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const toast = useToast();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const parsed = parseDraft(draft);
    if (parsed.errors) {
      setErrors(parsed.errors);
      return;
    }
    setSaving(true);
    setFormError(null);
    try {
      const models = await saveModel(parsed.input);
      toast.show(`Added ${parsed.input.model}.`, 'success');
      onAdded(models);
    } catch (error) {
      const { fields, form } = apiFieldErrors(error);
      setErrors(fields);
      setFormError(form);
      setSaving(false);
    }
  };

  const field = (name: keyof Draft, label: string, placeholder: string) => (
    <div className="field">
      <label htmlFor={`add-${name}`}>{label}</label>
      <input
        id={`add-${name}`}
        className="input"
        value={draft[name]}
        placeholder={placeholder}
        autoComplete="off"
        spellCheck={false}
        aria-invalid={errors[name] ? true : undefined}
        data-testid={`model-add-${name}`}
        onChange={(e) => {
          const value = e.target.value;
          setDraft((d) => ({ ...d, [name]: value }));
          setErrors((current) => {
            const next = { ...current };
            delete next[name];
            return next;
          });
        }}
      />
      <FieldError name={name} message={errors[name]} />
    </div>
  );

  return (
    <form className="models-add" onSubmit={(e) => void submit(e)} data-testid="model-add-form" noValidate>
      <div className="models-add-fields">
        {field('model', 'Model id', 'provider/name')}
        {field('input_price', 'Input $/M', '0.15')}
        {field('output_price', 'Output $/M', '0.60')}
        {field('context', 'Context (tokens)', 'optional')}
        {CAPABILITIES.map(({ name, label, choices }) => (
          <div className="field" key={name}>
            <label htmlFor={`add-${name}`}>{label}</label>
            <select
              id={`add-${name}`}
              className="input"
              value={draft[name]}
              data-testid={`model-add-${name}`}
              onChange={(e) => {
                const value = e.target.value;
                setDraft((d) => ({ ...d, [name]: value }));
              }}
            >
              {choices.map((choice) => (
                <option key={choice.value} value={choice.value}>
                  {choice.label}
                </option>
              ))}
            </select>
            <FieldError name={name} message={errors[name]} />
          </div>
        ))}
      </div>
      {formError && (
        <div className="field-error" role="alert" data-testid="model-add-error">
          {formError}
        </div>
      )}
      <div className="page-actions">
        <button type="submit" className="btn btn-primary" disabled={saving} data-testid="model-add-submit">
          {saving ? 'Adding…' : 'Add'}
        </button>
        <button type="button" className="btn btn-ghost" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
