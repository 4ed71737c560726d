// A settings form generated from a node type's JSON Schema. Every field shows its message under
// it as the user types (the caller validates with `validate` and passes the errors in). Each field
// is edited by the widget its kind maps to (widgets/index.ts).

import { memo, useId, useRef } from 'react';
import type { JsonSchema } from '../../api/graph';
import type { ModelEntry } from '../../api/models';
import type { Credential } from '../../api/credentials';
import { modelNote, modelOptions } from '../../models/catalogue';
import type { WorkflowSummary } from '../../api/resources';
import { pathText, type FieldPath, type FormContext, type UpstreamRef } from './formContext';
import { deref, resolveField, type ResolvedField } from './resolve';
import { setIn, type Errors } from './validate';
import { widgetFor } from './widgets';

export type { UpstreamRef } from './formContext';

export const MODEL_SUGGESTIONS = [
  'local/echo',
  'openai/gpt-4o-mini',
  'openai/gpt-4o',
  'openai/gpt-4.1-mini',
  'openai/gpt-4.1',
];

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

export const SchemaForm = memo(function SchemaForm(props: SchemaFormProps) {
  const idBase = useId().replace(/:/g, '');
  const valueRef = useRef(props.value);
  valueRef.current = props.value;
  const onChangeRef = useRef(props.onChange);
  onChangeRef.current = props.onChange;
  const ctx: FormContext = {
    root: props.schema,
    errors: props.errors ?? {},
    upstream: props.upstream ?? [],
    modelListId: `${idBase}-models`,
    credentials: props.credentials,
    workflows: props.workflows,
    modelOptions: (examples) => modelOptions(props.models ?? null, examples, props.modelSuggestions ?? MODEL_SUGGESTIONS),
    modelNote: (model) => modelNote(props.models, model),
    idBase,
    change: (path, value) => {
      const next = setIn(valueRef.current, path, value) as Record<string, unknown>;
      onChangeRef.current(next, pathText(path));
    },
    objectFields: (schema, value, path) => <ObjectFields ctx={ctx} schema={schema} value={value} path={path} />,
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

function ObjectFields({ ctx, schema, value, path }: { ctx: FormContext; schema: JsonSchema; value: unknown; path: FieldPath }) {
  const object = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>;
  const resolved = deref(schema, ctx.root);
  return (
    <>
      {Object.entries(resolved.properties ?? {}).map(([name, sub]) => (
        <Field
          key={name}
          ctx={ctx}
          field={resolveField(name, sub, ctx.root)}
          required={resolved.required?.includes(name) ?? false}
          value={object[name]}
          path={[...path, name]}
        />
      ))}
    </>
  );
}

function Field({ ctx, field, required, value, path }: { ctx: FormContext; field: ResolvedField; required: boolean; value: unknown; path: FieldPath }) {
  const Widget = widgetFor(field.kind);
  return (
    <Widget
      ctx={ctx}
      field={field}
      required={required}
      value={value}
      path={path}
      fieldPath={pathText(path)}
      onSet={(next) => ctx.change(path, next)}
      emptyValue={field.nullable && !required ? null : undefined}
    />
  );
}
