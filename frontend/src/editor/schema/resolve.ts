// Turn the pydantic-generated JSON Schema of a node's settings into field descriptions the form
// can render: follow $ref into $defs, unwrap `anyOf: [X, null]` into a nullable X, and pick a
// widget for each field.

import type { JsonSchema } from '../../api/graph';

export type FieldKind =
  | 'text'
  | 'textarea'
  | 'template'
  | 'expression'
  | 'model'
  | 'credential'
  | 'workflow'
  | 'knowledge-base'
  | 'number'
  | 'integer'
  | 'boolean'
  | 'enum'
  | 'object'
  | 'array-objects'
  | 'array-strings'
  | 'array-enum'
  | 'tools'
  | 'json'
  | 'json-schema';

export interface ResolvedField {
  kind: FieldKind;
  /** the schema of the value itself (ref followed, null branch removed) */
  schema: JsonSchema;
  nullable: boolean;
  title: string;
  description?: string;
  default?: unknown;
}

// Keys pydantic writes beside an `anyOf` (from Field(json_schema_extra=...)) that describe the field.
const OUTER_KEYS = ['title', 'description', 'default', 'widget', 'format', 'credential_kinds'] as const;

/** Follow a local `#/$defs/Name` reference; keys written beside the $ref win. */
export function deref(schema: JsonSchema, root: JsonSchema): JsonSchema {
  let current = schema;
  const seen = new Set<string>();
  while (current.$ref && !seen.has(current.$ref)) {
    seen.add(current.$ref);
    const match = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(current.$ref);
    const target = match ? (root.$defs?.[match[1]] ?? (root as { definitions?: Record<string, JsonSchema> }).definitions?.[match[1]]) : undefined;
    const { $ref: _ref, ...rest } = current;
    if (!target) return rest;
    current = { ...target, ...rest };
  }
  return current;
}

function isNull(schema: JsonSchema): boolean {
  return schema.type === 'null';
}

/** `anyOf: [X, {type: null}]` → X with nullable; other unions are left as they are. */
export function unwrapNullable(schema: JsonSchema, root: JsonSchema): { schema: JsonSchema; nullable: boolean } {
  const resolved = deref(schema, root);
  const union = resolved.anyOf ?? resolved.oneOf;
  if (!union) return { schema: resolved, nullable: resolved.type === 'null' };
  const nonNull = union.filter((branch) => !isNull(branch));
  const nullable = nonNull.length < union.length;
  if (nonNull.length !== 1) return { schema: resolved, nullable };
  const inner = deref(nonNull[0], root);
  const merged: JsonSchema = { ...inner };
  const outer = resolved as Record<string, unknown>;
  for (const key of OUTER_KEYS) {
    if (outer[key] !== undefined) (merged as Record<string, unknown>)[key] = outer[key];
  }
  return { schema: merged, nullable };
}

export function humanise(name: string): string {
  const text = name.replace(/[_-]+/g, ' ').trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function resolveField(name: string, raw: JsonSchema, root: JsonSchema): ResolvedField {
  const { schema, nullable } = unwrapNullable(raw, root);
  const title = schema.title && schema.title !== name ? schema.title : humanise(name);
  const base = { schema, nullable, title, description: schema.description, default: schema.default };
  const union = schema.anyOf ?? schema.oneOf;
  if (schema.widget === 'json-schema') return { ...base, kind: 'json-schema' };
  if (union && union.filter((b) => !isNull(b)).length > 1) return { ...base, kind: 'json' };
  if (schema.enum && schema.enum.length) return { ...base, kind: 'enum' };
  switch (schema.type) {
    case 'string':
      if (schema.widget === 'template') return { ...base, kind: 'template' };
      if (schema.widget === 'expression') return { ...base, kind: 'expression' };
      if (schema.widget === 'model') return { ...base, kind: 'model' };
      // the name of a workspace credential: a picker, never a place to type a secret
      if (schema.format === 'credential') return { ...base, kind: 'credential' };
      // the id of another workflow of the workspace (a sub-flow): a picker of their names
      if (schema.format === 'workflow') return { ...base, kind: 'workflow' };
      // a knowledge base of the workspace (the retrieve node): a picker of their names
      if (schema.format === 'knowledge_base') return { ...base, kind: 'knowledge-base' };
      if ((schema.maxLength ?? 0) > 500 || (schema.maxLength === undefined && /prompt|instruction|description/i.test(name))) {
        return { ...base, kind: 'textarea' };
      }
      return { ...base, kind: 'text' };
    case 'integer':
      return { ...base, kind: 'integer' };
    case 'number':
      return { ...base, kind: 'number' };
    case 'boolean':
      return { ...base, kind: 'boolean' };
    case 'array': {
      if (schema.widget === 'tools') return { ...base, kind: 'tools' };
      const items = schema.items ? deref(schema.items, root) : undefined;
      if (items?.type === 'object' && items.properties) return { ...base, kind: 'array-objects' };
      if (items?.enum?.length) return { ...base, kind: 'array-enum' };
      if (!items || items.type === 'string') return { ...base, kind: 'array-strings' };
      return { ...base, kind: 'json' };
    }
    case 'object':
      if (schema.properties && Object.keys(schema.properties).length) return { ...base, kind: 'object' };
      return { ...base, kind: 'json' };
    default:
      return { ...base, kind: schema.properties ? 'object' : 'json' };
  }
}

/** Top-level defaults a new node starts with (plain values only; nested models stay implicit). */
export function initialConfig(schema: JsonSchema): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(schema.properties ?? {})) {
    const { schema: field } = unwrapNullable(raw, schema);
    const value = field.default;
    if (value === undefined || value === null) {
      if (schema.required?.includes(name) && field.type === 'array') config[name] = [];
      continue;
    }
    if (typeof value === 'object') continue;
    config[name] = value;
  }
  return config;
}

/** An item for an array of objects, with its required text fields started. */
export function newItem(items: JsonSchema, root: JsonSchema, index: number): Record<string, unknown> {
  const schema = deref(items, root);
  const item: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(schema.properties ?? {})) {
    const { schema: field } = unwrapNullable(raw, root);
    if (field.default !== undefined) item[name] = field.default;
    else if (name === 'name') item[name] = `${(schema.title ?? 'item').toLowerCase().replace(/[^a-z0-9_]/g, '_')}_${index + 1}`;
    else if (schema.required?.includes(name) && field.type === 'string') item[name] = '';
  }
  return item;
}
