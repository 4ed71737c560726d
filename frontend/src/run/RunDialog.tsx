// Ask for the run's input: a form from the input node's `fields` JSON Schema when there is one,
// or JSON. Submitting saves unsaved changes first (runs use the latest saved version).

import { useEffect, useMemo, useState, type ReactNode } from 'react';
import { ApiError, errorMessage } from '../api/client';
import type { JsonSchema } from '../api/graph';
import { Modal } from '../components/Modal';
import { SchemaForm } from '../editor/schema/SchemaForm';
import { validate } from '../editor/schema/validate';

export interface RunDialogProps {
  open: boolean;
  onClose: () => void;
  /** the input node's config.fields, if any */
  schema: JsonSchema | null;
  dirty: boolean;
  storageKey: string;
  onSubmit: (input: unknown) => Promise<void>;
  /** said above the buttons (e.g. that pinned nodes give their pinned output) */
  note?: ReactNode;
}

function usable(schema: JsonSchema | null): schema is JsonSchema {
  return !!schema && typeof schema === 'object' && !!schema.properties && Object.keys(schema.properties).length > 0;
}

/** The input with each missing field's default filled in, as the server fills them before the
 * run starts: a required field with a default is not missing. */
export function withDefaults(schema: JsonSchema, input: unknown): unknown {
  if (!input || typeof input !== 'object' || Array.isArray(input)) return input;
  const filled: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  for (const [name, field] of Object.entries(schema.properties ?? {})) {
    if ((filled[name] === undefined || filled[name] === '') && field.default !== undefined) filled[name] = field.default;
  }
  return filled;
}

/** Required fields first, in the order `required` names them, then the rest. PostgreSQL keeps a
 * saved graph's object keys in its own order (jsonb), so the author's order is not known. */
export function formOrder(schema: JsonSchema): JsonSchema {
  const properties = schema.properties ?? {};
  const required = (schema.required ?? []).filter((name) => name in properties);
  const names = [...required, ...Object.keys(properties).filter((name) => !required.includes(name))];
  return { ...schema, properties: Object.fromEntries(names.map((name) => [name, properties[name]])) };
}

function remembered(key: string): Record<string, unknown> | null {
  try {
    const raw = localStorage.getItem(key);
    const parsed = raw ? JSON.parse(raw) : null;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

export function RunDialog({ open, onClose, schema, dirty, storageKey, onSubmit, note }: RunDialogProps) {
  const hasForm = usable(schema);
  const [mode, setMode] = useState<'form' | 'json'>(hasForm ? 'form' : 'json');
  const [value, setValue] = useState<Record<string, unknown>>({});
  const [json, setJson] = useState('{}');
  const [jsonError, setJsonError] = useState<string | null>(null);
  const [submitError, setSubmitError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // messages appear once the user has typed or tried to run, not on an untouched form
  const [touched, setTouched] = useState(false);

  useEffect(() => {
    if (!open) return;
    const last = remembered(storageKey) ?? {};
    setValue(last);
    setJson(JSON.stringify(last, null, 2));
    setMode(hasForm ? 'form' : 'json');
    setJsonError(null);
    setSubmitError(null);
    setTouched(false);
  }, [open, storageKey, hasForm]);

  const errors = useMemo(
    () => (hasForm && mode === 'form' ? validate({ type: 'object', ...schema }, withDefaults(schema, value)) : {}),
    [hasForm, mode, schema, value],
  );
  const formInvalid = Object.keys(errors).length > 0;

  const switchMode = (next: 'form' | 'json') => {
    if (next === 'json') {
      setJson(JSON.stringify(value, null, 2));
      setJsonError(null);
    } else {
      try {
        const parsed = JSON.parse(json);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) setValue(parsed);
      } catch {
        /* keep the last form value */
      }
    }
    setMode(next);
  };

  const submit = async () => {
    let input: unknown = value;
    if (mode === 'json') {
      try {
        input = json.trim() ? JSON.parse(json) : {};
      } catch (error) {
        setJsonError(`Not valid JSON: ${(error as Error).message}`);
        return;
      }
      if (input === null || typeof input !== 'object' || Array.isArray(input)) {
        // templates read the input's fields (input.topic): a list or a bare value has none
        setJsonError(`The input must be a JSON object of fields, like {"topic": "…"}, not ${Array.isArray(input) ? 'a list' : input === null ? 'null' : `a ${typeof input}`}.`);
        return;
      }
      if (hasForm) {
        const problems = validate({ type: 'object', ...schema }, withDefaults(schema, input));
        const first = Object.entries(problems)[0];
        if (first) {
          setJsonError(`${first[0] || 'input'}: ${first[1]}`);
          return;
        }
      }
    } else if (formInvalid) {
      setTouched(true);
      return;
    }
    setBusy(true);
    setSubmitError(null);
    try {
      await onSubmit(input);
      try {
        localStorage.setItem(storageKey, JSON.stringify(input));
      } catch {
        /* private mode: nothing to remember */
      }
    } catch (error) {
      const fields = error instanceof ApiError ? Object.entries(error.fields).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(' ') : v}`) : [];
      setSubmitError([errorMessage(error), ...fields].join(' '));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      title="Run this workflow"
      open={open}
      onClose={onClose}
      testId="run-dialog"
      footer={
        <>
          {dirty && <span className="muted small">Unsaved changes are saved as a new version first.</span>}
          <span className="spacer" />
          <button type="button" className="btn btn-secondary" onClick={onClose}>
            Cancel
          </button>
          <button
            type="button"
            className="btn btn-primary"
            data-testid="run-submit"
            disabled={busy || (touched && mode === 'form' && formInvalid)}
            onClick={submit}
          >
            {busy ? 'Starting…' : dirty ? 'Save and run' : 'Run'}
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
        {hasForm && (
          <div className="segmented" role="group" aria-label="Input as">
            <button type="button" className={mode === 'form' ? 'active' : ''} aria-pressed={mode === 'form'} onClick={() => switchMode('form')}>
              Form
            </button>
            <button type="button" className={mode === 'json' ? 'active' : ''} aria-pressed={mode === 'json'} onClick={() => switchMode('json')}>
              JSON
            </button>
          </div>
        )}
        {mode === 'form' && hasForm ? (
          <SchemaForm
            schema={{ type: 'object', ...formOrder(schema) }}
            value={value}
            errors={touched ? errors : {}}
            onChange={(next) => {
              setValue(next);
              setTouched(true);
            }}
          />
        ) : (
          <div className={`field${jsonError ? ' field-invalid' : ''}`}>
            <label className="field-label" htmlFor="run-input-json">
              Input (JSON)
            </label>
            <textarea
              id="run-input-json"
              className="input mono"
              rows={10}
              value={json}
              spellCheck={false}
              data-testid="run-input-json"
              aria-invalid={!!jsonError || undefined}
              onChange={(e) => {
                setJson(e.target.value);
                setJsonError(null);
              }}
            />
            {jsonError && (
              <p className="field-error" role="alert" data-testid="run-input-json-error">
                {jsonError}
              </p>
            )}
            {!hasForm && (
              <p className="field-help">
                Give the Input node a <code>fields</code> schema to get a form here.
              </p>
            )}
          </div>
        )}
        {note}
        {submitError && (
          <p className="banner banner-error" role="alert" data-testid="run-submit-error">
            {submitError}
          </p>
        )}
        <button type="submit" hidden />
      </form>
    </Modal>
  );
}
