// A settings form generated from a node type's JSON Schema. Every field shows its message under
// it as the user types (the caller validates with `validate` and passes the errors in).

import { memo, useEffect, useId, useRef, useState, type ReactNode } from 'react';
import type { JsonSchema } from '../../api/graph';
import type { ModelEntry } from '../../api/models';
import { KIND_LABELS, type Credential } from '../../api/credentials';
import { modelOptions, type ModelOption } from '../../models/catalogue';
import { useCredentialChoices, type CredentialChoices } from './credentialNames';
import { useWorkflowChoices, type WorkflowChoices } from './workflowNames';
import type { WorkflowSummary } from '../../api/resources';
import { deref, newItem, resolveField, type ResolvedField } from './resolve';
import { joinPath, setIn, type Errors } from './validate';

export const MODEL_SUGGESTIONS = [
  'local/echo',
  'openai/gpt-4o-mini',
  'openai/gpt-4o',
  'openai/gpt-4.1-mini',
  'openai/gpt-4.1',
];

export interface UpstreamRef {
  id: string;
  label: string;
}

export interface SchemaFormProps {
  schema: JsonSchema;
  value: Record<string, unknown>;
  /** the whole new value, and the path of the field that changed (for undo coalescing) */
  onChange: (next: Record<string, unknown>, path: string) => void;
  errors?: Errors;
  /** nodes upstream of this one, offered as {{ nodes.<id>.output }} in template fields */
  upstream?: UpstreamRef[];
  modelSuggestions?: string[];
  /** the model catalogue (GET /api/models/): offered with prices after the tiers; null while unknown */
  models?: ModelEntry[] | null;
  /** names of top-level fields to leave out */
  hidden?: string[];
  /** what "format": "credential" fields offer; left out, the workflow's workspace is asked */
  credentials?: Credential[];
  /** what "format": "workflow" fields offer; left out, the workflow's workspace is asked */
  workflows?: WorkflowSummary[];
}

interface Ctx {
  root: JsonSchema;
  errors: Errors;
  upstream: UpstreamRef[];
  modelListId: string;
  /** suggestions for a model field, given the type's own examples */
  modelOptions: (examples: string[]) => ModelOption[];
  idBase: string;
  change: (path: (string | number)[], value: unknown) => void;
  credentials?: Credential[];
  workflows?: WorkflowSummary[];
}

function pathText(path: (string | number)[]): string {
  return path.reduce<string>((text, key) => joinPath(text, key), '');
}

function domId(ctx: Ctx, path: string): string {
  return `${ctx.idBase}-${path.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

export const SchemaForm = memo(function SchemaForm(props: SchemaFormProps) {
  const idBase = useId().replace(/:/g, '');
  const valueRef = useRef(props.value);
  valueRef.current = props.value;
  const onChangeRef = useRef(props.onChange);
  onChangeRef.current = props.onChange;
  const ctx: Ctx = {
    root: props.schema,
    errors: props.errors ?? {},
    upstream: props.upstream ?? [],
    modelListId: `${idBase}-models`,
    credentials: props.credentials,
    workflows: props.workflows,
    modelOptions: (examples) => modelOptions(props.models ?? null, examples, props.modelSuggestions ?? MODEL_SUGGESTIONS),
    idBase,
    change: (path, value) => {
      const next = setIn(valueRef.current, path, value) as Record<string, unknown>;
      onChangeRef.current(next, pathText(path));
    },
  };
  const properties = Object.entries(props.schema.properties ?? {}).filter(([name]) => !props.hidden?.includes(name));
  if (!properties.length) return <p className="muted">This node has no settings.</p>;
  return (
    <div className="schema-form">
      <ObjectFields ctx={ctx} schema={props.schema} value={props.value} path={[]} />
      <datalist id={ctx.modelListId}>
        {ctx.modelOptions([]).map((option) => (
          <option key={option.value} value={option.value} label={option.label} />
        ))}
      </datalist>
    </div>
  );
});

function ObjectFields({ ctx, schema, value, path }: { ctx: Ctx; schema: JsonSchema; value: unknown; path: (string | number)[] }) {
  const object = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>;
  const resolved = deref(schema, ctx.root);
  return (
    <>
      {Object.entries(resolved.properties ?? {}).map(([name, sub]) => (
        <Field
          key={name}
          ctx={ctx}
          name={name}
          field={resolveField(name, sub, ctx.root)}
          required={resolved.required?.includes(name) ?? false}
          value={object[name]}
          path={[...path, name]}
        />
      ))}
    </>
  );
}

interface FieldProps {
  ctx: Ctx;
  name: string;
  field: ResolvedField;
  required: boolean;
  value: unknown;
  path: (string | number)[];
}

function Row({
  ctx,
  field,
  required,
  path,
  children,
  localError,
  inline = false,
}: {
  ctx: Ctx;
  field: ResolvedField;
  required: boolean;
  path: string;
  children: (ids: { id: string; describedBy: string | undefined; invalid: boolean }) => ReactNode;
  localError?: string | null;
  inline?: boolean;
}) {
  const id = domId(ctx, path);
  const error = localError ?? ctx.errors[path];
  const helpId = field.description ? `${id}-help` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [errorId, helpId].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${inline ? ' field-inline' : ''}${error ? ' field-invalid' : ''}`}>
      <label htmlFor={id} className="field-label">
        {field.title}
        {required && (
          <span className="required" aria-hidden="true">
            *
          </span>
        )}
      </label>
      {children({ id, describedBy, invalid: !!error })}
      {error && (
        <p className="field-error" id={errorId} data-testid={`field-error-${path}`} role="alert">
          {error}
        </p>
      )}
      {field.description && (
        <p className="field-help" id={helpId}>
          {field.description}
        </p>
      )}
    </div>
  );
}

function placeholderOf(field: ResolvedField): string | undefined {
  if (field.default === undefined || field.default === null || field.default === '') return field.nullable ? 'Not set' : undefined;
  return `Default: ${typeof field.default === 'string' ? field.default : JSON.stringify(field.default)}`;
}

function Field({ ctx, name, field, required, value, path }: FieldProps) {
  const key = pathText(path);
  const set = (next: unknown) => ctx.change(path, next);
  const emptyValue = field.nullable && !required ? null : undefined;

  switch (field.kind) {
    case 'boolean': {
      const checked = typeof value === 'boolean' ? value : field.default === true;
      return (
        <Row ctx={ctx} field={field} required={required} path={key} inline>
          {({ id, describedBy }) => (
            <input
              id={id}
              type="checkbox"
              role="switch"
              className="switch nodrag"
              checked={checked}
              aria-describedby={describedBy}
              data-testid={`field-${key}`}
              onChange={(e) => set(e.target.checked)}
            />
          )}
        </Row>
      );
    }
    case 'enum': {
      const options = field.schema.enum ?? [];
      const current = value === undefined || value === null ? '' : String(value);
      return (
        <Row ctx={ctx} field={field} required={required} path={key}>
          {({ id, describedBy, invalid }) => (
            <select
              id={id}
              className="input nodrag"
              value={current}
              aria-describedby={describedBy}
              aria-invalid={invalid || undefined}
              data-testid={`field-${key}`}
              onChange={(e) => {
                const picked = options.find((o) => String(o) === e.target.value);
                set(e.target.value === '' ? emptyValue : picked);
              }}
            >
              {(!required || current === '') && (
                <option value="">{field.default !== undefined && field.default !== null ? `Default (${String(field.default)})` : '—'}</option>
              )}
              {options.map((option) => (
                <option key={String(option)} value={String(option)}>
                  {String(option)}
                </option>
              ))}
            </select>
          )}
        </Row>
      );
    }
    case 'number':
    case 'integer':
      return <NumberField ctx={ctx} field={field} required={required} value={value} path={key} onSet={set} emptyValue={emptyValue} />;
    case 'template':
    case 'textarea':
    case 'expression':
    case 'model':
    case 'text':
      return <TextField ctx={ctx} field={field} required={required} value={value} path={key} onSet={set} emptyValue={emptyValue} />;
    case 'credential':
      return <CredentialField ctx={ctx} field={field} required={required} value={value} path={key} onSet={set} emptyValue={emptyValue} />;
    case 'workflow':
      return <WorkflowField ctx={ctx} field={field} required={required} value={value} path={key} onSet={set} emptyValue={emptyValue} />;
    case 'array-strings':
      return <StringListField ctx={ctx} field={field} required={required} value={value} path={key} onSet={set} emptyValue={emptyValue} />;
    case 'array-enum':
      return <ChoiceListField ctx={ctx} field={field} required={required} value={value} path={key} onSet={set} emptyValue={emptyValue} />;
    case 'array-objects':
      return <ObjectListField ctx={ctx} field={field} required={required} value={value} path={path} name={name} />;
    case 'object': {
      const isSet = value !== undefined && value !== null;
      return (
        <details className="field-group" open={!!Object.keys(ctx.errors).find((p) => p.startsWith(`${key}.`))}>
          <summary>
            <span>{field.title}</span>
            <span className="muted small">{isSet ? 'customised' : 'defaults'}</span>
          </summary>
          {field.description && <p className="field-help">{field.description}</p>}
          <div className="field-group-body">
            <ObjectFields ctx={ctx} schema={field.schema} value={value} path={path} />
            {isSet && (
              <button type="button" className="btn btn-link btn-small" onClick={() => set(undefined)}>
                Reset to defaults
              </button>
            )}
          </div>
        </details>
      );
    }
    case 'json':
    case 'json-schema':
    default:
      return <JsonField ctx={ctx} field={field} required={required} value={value} path={key} onSet={set} emptyValue={emptyValue} />;
  }
}

interface LeafProps {
  ctx: Ctx;
  field: ResolvedField;
  required: boolean;
  value: unknown;
  path: string;
  onSet: (value: unknown) => void;
  emptyValue: null | undefined;
}

/** A select of choices loaded from the workspace (`children`: their options): the current value
 *  is kept even when it is not among them, and a line says while they load, when they cannot be
 *  had, or that there are none. */
function PickerField({
  row,
  current,
  listed,
  missingText,
  choices,
  offered,
  what,
  placeholder,
  none,
  onChange,
  children,
}: {
  row: { ctx: Ctx; field: ResolvedField; required: boolean; path: string };
  current: string;
  listed: boolean;
  missingText: string | null;
  choices: { status: 'loading' } | { status: 'error'; message: string } | { status: 'ready' };
  offered: number;
  what: string;
  placeholder: string;
  none: string;
  onChange: (value: string) => void;
  children: ReactNode;
}) {
  const { path } = row;
  return (
    <Row {...row} localError={missingText}>
      {({ id, describedBy, invalid }) => (
        <>
          <select
            id={id}
            className="input nodrag"
            value={current}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
            data-testid={`field-${path}`}
            onChange={(e) => onChange(e.target.value)}
          >
            <option value="">{placeholder}</option>
            {children}
            {current !== '' && !listed && <option value={current}>{current}</option>}
          </select>
          {choices.status === 'loading' && <p className="field-help muted">Loading the workspace's {what}…</p>}
          {choices.status === 'error' && (
            <p className="field-help muted" data-testid={`field-${path}-unavailable`}>
              {what.charAt(0).toUpperCase() + what.slice(1)} unavailable: {choices.message}
            </p>
          )}
          {choices.status === 'ready' && offered === 0 && (
            <p className="field-help muted" data-testid={`field-${path}-none`}>
              {none}
            </p>
          )}
        </>
      )}
    </Row>
  );
}

/** A select of the workspace's credentials (of the kinds the field takes), plus "default". */
function CredentialField({ ctx, field, required, value, path, onSet }: LeafProps) {
  const loaded = useCredentialChoices(ctx.credentials === undefined);
  const choices: CredentialChoices = ctx.credentials === undefined ? loaded : { status: 'ready', credentials: ctx.credentials };
  const kinds = (field.schema as { credential_kinds?: string[] }).credential_kinds;
  const current = typeof value === 'string' ? value : '';
  const offered = choices.status === 'ready' ? choices.credentials.filter((c) => !kinds || kinds.includes(c.kind)) : [];
  const listed = offered.some((c) => c.name === current);
  const missing = current !== '' && choices.status === 'ready' && !listed;
  const missingText = `This workspace has no ${kinds ? `${kinds.join(' or ')} ` : ''}credential named “${current}”: the step will fail.`;
  return (
    <PickerField
      row={{ ctx, field, required, path }}
      current={current}
      listed={listed}
      missingText={missing ? missingText : null}
      choices={choices}
      offered={offered.length}
      what="credentials"
      placeholder="None (default key)"
      none="No credentials of this kind yet: add one under Settings → Credentials."
      onChange={(chosen) => onSet(chosen === '' ? undefined : chosen)}
    >
      {offered.map((c) => (
        <option key={c.name} value={c.name} title={KIND_LABELS[c.kind] ?? c.kind}>
          {/* short: the panel is narrow; the kind's long label is the title */}
          {c.name} ({c.kind}{c.hint ? ` ${c.hint}` : ''})
        </option>
      ))}
    </PickerField>
  );
}

/** A select of the workspace's other workflows, by name; the setting holds the chosen id. */
function WorkflowField({ ctx, field, required, value, path, onSet }: LeafProps) {
  const loaded = useWorkflowChoices(ctx.workflows === undefined);
  const choices: WorkflowChoices = ctx.workflows === undefined ? loaded : { status: 'ready', workflows: ctx.workflows, current: null };
  const current = typeof value === 'string' ? value : '';
  // A workflow that runs itself is a cycle: it is not offered.
  const offered = choices.status === 'ready' ? choices.workflows.filter((w) => w.id !== choices.current) : [];
  const listed = offered.some((w) => w.id === current);
  const missing = current !== '' && choices.status === 'ready' && !listed;
  const missingText =
    choices.status === 'ready' && current === choices.current
      ? 'This is the workflow being edited: a flow cannot run itself.'
      : `This workspace has no workflow “${current}”: the step will fail.`;
  return (
    <PickerField
      row={{ ctx, field, required, path }}
      current={current}
      listed={listed}
      missingText={missing ? missingText : null}
      choices={choices}
      offered={offered.length}
      what="workflows"
      placeholder="Choose a workflow…"
      none="No other workflow in this workspace yet: make the one to run first."
      onChange={onSet}
    >
      {offered.map((w) => (
        <option key={w.id} value={w.id}>
          {w.name}
        </option>
      ))}
    </PickerField>
  );
}

function TextField({ ctx, field, required, value, path, onSet, emptyValue }: LeafProps) {
  const text = typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
  const areaRef = useRef<HTMLTextAreaElement>(null);
  const change = (next: string) => onSet(next === '' && emptyValue === null ? null : next);
  const multiline = field.kind === 'template' || field.kind === 'textarea';
  const insert = (snippet: string) => {
    const area = areaRef.current;
    const start = area?.selectionStart ?? text.length;
    const end = area?.selectionEnd ?? text.length;
    change(text.slice(0, start) + snippet + text.slice(end));
    requestAnimationFrame(() => {
      area?.focus();
      area?.setSelectionRange(start + snippet.length, start + snippet.length);
    });
  };
  return (
    <>
    <Row ctx={ctx} field={field} required={required} path={path}>
      {({ id, describedBy, invalid }) =>
        multiline ? (
          <>
            <textarea
              id={id}
              ref={areaRef}
              className={`input nodrag nowheel${field.kind === 'template' ? ' mono' : ''}`}
              rows={Math.min(12, Math.max(3, text.split('\n').length + 1))}
              value={text}
              placeholder={placeholderOf(field)}
              aria-describedby={describedBy}
              aria-invalid={invalid || undefined}
              data-testid={`field-${path}`}
              spellCheck={field.kind !== 'template'}
              onChange={(e) => change(e.target.value)}
            />
            {field.kind === 'template' && (
              <div className="template-vars" aria-label="Insert a value">
                <button type="button" className="chip" onClick={() => insert('{{ upstream }}')}>
                  upstream
                </button>
                <button type="button" className="chip" onClick={() => insert('{{ input }}')}>
                  input
                </button>
                {ctx.upstream.map((ref) => (
                  <button
                    type="button"
                    key={ref.id}
                    className="chip"
                    title={`Insert {{ nodes.${ref.id}.output }}`}
                    onClick={() => insert(`{{ nodes.${ref.id}.output }}`)}
                  >
                    {ref.label || ref.id}
                  </button>
                ))}
              </div>
            )}
          </>
        ) : (
          <input
            id={id}
            type="text"
            className={`input nodrag${field.kind === 'expression' ? ' mono' : ''}`}
            value={text}
            list={field.kind === 'model' ? (field.schema.examples?.length ? `${ctx.modelListId}-${path}` : ctx.modelListId) : undefined}
            placeholder={placeholderOf(field)}
            autoComplete="off"
            spellCheck={false}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
            data-testid={`field-${path}`}
            onChange={(e) => change(e.target.value)}
          />
        )
      }
    </Row>
    {field.kind === 'model' && field.schema.examples?.length ? (
      // the tiers and the type's own examples first (e.g. "fast", "strong"), then the catalogue with prices
      <datalist id={`${ctx.modelListId}-${path}`}>
        {ctx.modelOptions(field.schema.examples.map(String)).map((option) => (
          <option key={option.value} value={option.value} label={option.label} />
        ))}
      </datalist>
    ) : null}
    </>
  );
}

function NumberField({ ctx, field, required, value, path, onSet, emptyValue }: LeafProps) {
  const shown = typeof value === 'number' ? String(value) : '';
  const [draft, setDraft] = useState(shown);
  const [local, setLocal] = useState<string | null>(null);
  // follow outside changes (undo, another field) unless the draft already means the same number
  useEffect(() => {
    setDraft((current) => (Number(current) === value && current.trim() !== '' ? current : shown));
    setLocal(null);
  }, [shown, value]);
  const change = (text: string) => {
    setDraft(text);
    const trimmed = text.trim();
    if (trimmed === '') {
      setLocal(null);
      onSet(emptyValue);
      return;
    }
    const number = Number(trimmed);
    if (!Number.isFinite(number)) {
      setLocal('Enter a number');
      return;
    }
    if (field.kind === 'integer' && !Number.isInteger(number)) {
      setLocal('Enter a whole number');
      return;
    }
    setLocal(null);
    onSet(number);
  };
  return (
    <Row ctx={ctx} field={field} required={required} path={path} localError={local}>
      {({ id, describedBy, invalid }) => (
        <input
          id={id}
          type="text"
          inputMode={field.kind === 'integer' ? 'numeric' : 'decimal'}
          className="input input-number nodrag"
          value={draft}
          placeholder={placeholderOf(field)}
          aria-describedby={describedBy}
          aria-invalid={invalid || undefined}
          data-testid={`field-${path}`}
          onChange={(e) => change(e.target.value)}
        />
      )}
    </Row>
  );
}

function StringListField({ ctx, field, required, value, path, onSet, emptyValue }: LeafProps) {
  const list = Array.isArray(value) ? (value as unknown[]).map(String) : [];
  const [draft, setDraft] = useState(list.join(', '));
  useEffect(() => {
    setDraft((current) => {
      const parsed = current.split(',').map((s) => s.trim()).filter(Boolean);
      return parsed.join('\u0000') === list.join('\u0000') ? current : list.join(', ');
    });
  }, [list.join('\u0000')]);
  return (
    <Row ctx={ctx} field={field} required={required} path={path}>
      {({ id, describedBy, invalid }) => (
        <input
          id={id}
          type="text"
          className="input nodrag"
          value={draft}
          placeholder={field.nullable ? 'Comma-separated; empty for none' : 'Comma-separated'}
          aria-describedby={describedBy}
          aria-invalid={invalid || undefined}
          data-testid={`field-${path}`}
          onChange={(e) => {
            setDraft(e.target.value);
            const items = e.target.value.split(',').map((s) => s.trim()).filter(Boolean);
            onSet(items.length ? items : emptyValue === null ? null : []);
          }}
        />
      )}
    </Row>
  );
}

function ChoiceListField({ ctx, field, required, value, path, onSet }: LeafProps) {
  const chosen = Array.isArray(value) ? (value as unknown[]) : [];
  const options = deref(field.schema.items ?? {}, ctx.root).enum ?? [];
  const error = ctx.errors[path];
  const id = domId(ctx, path);
  return (
    <fieldset className={`field field-choices${error ? ' field-invalid' : ''}`} data-testid={`field-${path}`}>
      <legend className="field-label">
        {field.title}
        {required && (
          <span className="required" aria-hidden="true">
            *
          </span>
        )}
      </legend>
      <div className="choices">
        {options.map((option) => {
          const text = String(option);
          const on = chosen.some((c) => c === option);
          return (
            <label key={text} className={`choice${on ? ' on' : ''}`} htmlFor={`${id}-${text}`}>
              <input
                id={`${id}-${text}`}
                type="checkbox"
                className="nodrag"
                checked={on}
                data-testid={`field-${path}-${text}`}
                onChange={() => onSet(on ? chosen.filter((c) => c !== option) : [...chosen, option])}
              />
              {text.replace(/_/g, ' ')}
            </label>
          );
        })}
      </div>
      {error && (
        <p className="field-error" data-testid={`field-error-${path}`} role="alert">
          {error}
        </p>
      )}
      {field.description && <p className="field-help">{field.description}</p>}
    </fieldset>
  );
}

function JsonField({ ctx, field, required, value, path, onSet, emptyValue }: LeafProps) {
  const format = (v: unknown) => (v === undefined || v === null ? '' : JSON.stringify(v, null, 2));
  const [draft, setDraft] = useState(format(value));
  const [local, setLocal] = useState<string | null>(null);
  const serialised = JSON.stringify(value ?? null);
  useEffect(() => {
    setDraft((current) => {
      try {
        if (current.trim() && JSON.stringify(JSON.parse(current)) === serialised) return current;
      } catch {
        /* the draft is mid-edit; replace it with the outside value */
      }
      return format(value);
    });
    setLocal(null);
  }, [serialised]);
  const change = (text: string) => {
    setDraft(text);
    if (!text.trim()) {
      setLocal(null);
      onSet(emptyValue);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      setLocal(`Not valid JSON: ${(error as Error).message}`);
      return;
    }
    if (field.kind === 'json-schema') {
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        setLocal('A JSON Schema is an object, e.g. {"type": "object", "properties": {…}}');
        return;
      }
      const props = (parsed as JsonSchema).properties;
      if (props !== undefined && (typeof props !== 'object' || Array.isArray(props))) {
        setLocal('“properties” must be an object of field schemas');
        return;
      }
    }
    setLocal(null);
    onSet(parsed);
  };
  const example = {
    type: 'object',
    properties: { topic: { type: 'string', title: 'Topic', description: 'What to write about' } },
    required: ['topic'],
  };
  return (
    <Row ctx={ctx} field={field} required={required} path={path} localError={local}>
      {({ id, describedBy, invalid }) => (
        <>
          <textarea
            id={id}
            className="input mono nodrag nowheel"
            rows={Math.min(14, Math.max(4, draft.split('\n').length + 1))}
            value={draft}
            placeholder={field.kind === 'json-schema' ? '{"type": "object", "properties": {…}}' : 'JSON'}
            spellCheck={false}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
            data-testid={`field-${path}`}
            onChange={(e) => change(e.target.value)}
          />
          {field.kind === 'json-schema' && !draft.trim() && (
            <button type="button" className="btn btn-link btn-small" onClick={() => change(JSON.stringify(example, null, 2))}>
              Start from an example
            </button>
          )}
        </>
      )}
    </Row>
  );
}

function ObjectListField({
  ctx,
  field,
  required,
  value,
  path,
}: {
  ctx: Ctx;
  field: ResolvedField;
  required: boolean;
  value: unknown;
  path: (string | number)[];
  name: string;
}) {
  const key = pathText(path);
  const items = Array.isArray(value) ? (value as unknown[]) : [];
  const itemSchema = deref(field.schema.items ?? {}, ctx.root);
  const itemTitle = itemSchema.title ?? 'Item';
  const error = ctx.errors[key];
  const max = field.schema.maxItems;
  const set = (next: unknown[]) => ctx.change(path, next);
  const move = (from: number, to: number) => {
    const next = [...items];
    const [moved] = next.splice(from, 1);
    next.splice(to, 0, moved);
    set(next);
  };
  return (
    <fieldset className={`field field-list${error ? ' field-invalid' : ''}`}>
      <legend className="field-label">
        {field.title}
        {required && (
          <span className="required" aria-hidden="true">
            *
          </span>
        )}
      </legend>
      {field.description && <p className="field-help">{field.description}</p>}
      {items.length === 0 && <p className="muted small">No {itemTitle.toLowerCase()}s yet.</p>}
      <ol className="list-items">
        {items.map((item, index) => (
          <li key={index} className="list-item" data-testid={`list-item-${key}-${index}`}>
            <div className="list-item-head">
              <span className="list-item-title">
                {itemTitle} {index + 1}
              </span>
              <span className="list-item-actions">
                <button
                  type="button"
                  className="icon-btn"
                  aria-label={`Move ${itemTitle} ${index + 1} up`}
                  disabled={index === 0}
                  onClick={() => move(index, index - 1)}
                >
                  ↑
                </button>
                <button
                  type="button"
                  className="icon-btn"
                  aria-label={`Move ${itemTitle} ${index + 1} down`}
                  disabled={index === items.length - 1}
                  onClick={() => move(index, index + 1)}
                >
                  ↓
                </button>
                <button
                  type="button"
                  className="icon-btn danger"
                  aria-label={`Remove ${itemTitle} ${index + 1}`}
                  onClick={() => set(items.filter((_, i) => i !== index))}
                >
                  ×
                </button>
              </span>
            </div>
            <ObjectFields ctx={ctx} schema={itemSchema} value={item} path={[...path, index]} />
          </li>
        ))}
      </ol>
      {error && (
        <p className="field-error" data-testid={`field-error-${key}`} role="alert">
          {error}
        </p>
      )}
      <button
        type="button"
        className="btn btn-secondary btn-small"
        disabled={max !== undefined && items.length >= max}
        data-testid={`add-${key}`}
        onClick={() => set([...items, newItem(itemSchema, ctx.root, items.length)])}
      >
        + Add {itemTitle.toLowerCase()}
      </button>
    </fieldset>
  );
}
