// What every widget of the settings form is handed: the form's context (its schema, messages,
// suggestions and the one way to change a value) and its own field.

import type { ReactNode } from 'react';
import type { JsonSchema } from '../../api/graph';
import type { Credential } from '../../api/credentials';
import type { WorkflowSummary } from '../../api/resources';
import type { ModelOption } from '../../models/catalogue';
import type { ResolvedField } from './resolve';
import { joinPath, type Errors } from './validate';

export interface UpstreamRef {
  id: string;
  label: string;
}

/** Where a value sits in the settings: property names and array indexes. */
export type FieldPath = (string | number)[];

export interface FormContext {
  root: JsonSchema;
  errors: Errors;
  upstream: UpstreamRef[];
  modelListId: string;
  /** suggestions for a model field, given the type's own examples */
  modelOptions: (examples: string[]) => ModelOption[];
  /** the catalogue's note on a model (a tiny local model: what it is for, what it needs) */
  modelNote: (model: string) => string | null;
  idBase: string;
  change: (path: FieldPath, value: unknown) => void;
  credentials?: Credential[];
  workflows?: WorkflowSummary[];
  /** the fields of a nested object: the form's own renderer, so widgets holding objects (a group,
   *  a list of items) need not import the form that imports them */
  objectFields: (schema: JsonSchema, value: unknown, path: FieldPath) => ReactNode;
}

export interface WidgetProps {
  ctx: FormContext;
  field: ResolvedField;
  required: boolean;
  value: unknown;
  path: FieldPath;
  /** the path as text ("retry.max_attempts", "routes[0].name"): the key of its message and test id */
  fieldPath: string;
  onSet: (value: unknown) => void;
  /** what clearing the field stores: null for a nullable optional field, else nothing */
  emptyValue: null | undefined;
}

export function pathText(path: FieldPath): string {
  return path.reduce<string>((text, key) => joinPath(text, key), '');
}

export function domId(ctx: FormContext, path: string): string {
  return `${ctx.idBase}-${path.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

export function placeholderOf(field: ResolvedField): string | undefined {
  if (field.default === undefined || field.default === null || field.default === '') return field.nullable ? 'Not set' : undefined;
  return `Default: ${typeof field.default === 'string' ? field.default : JSON.stringify(field.default)}`;
}
