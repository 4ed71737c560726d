// Client-side validation of a value against the settings' JSON Schema, for messages under the
// fields while the user types. It covers what pydantic's schema states (required, type, bounds,
// lengths, pattern, enum, item counts); the server's validation stays authoritative.

import type { JsonSchema } from '../../api/graph';
import { deref } from './resolve';

export type Errors = Record<string, string>;

export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base ? `${base}.${key}` : key;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function matchesType(type: JsonSchema['type'], value: unknown): boolean {
  const actual = typeOf(value);
  if (type === 'number') return (actual === 'number' || actual === 'integer') && Number.isFinite(value as number);
  return actual === type;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'text',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'on or off',
  object: 'an object',
  array: 'a list',
  null: 'empty',
};

const patterns = new Map<string, RegExp | null>();
function compile(pattern: string): RegExp | null {
  if (!patterns.has(pattern)) {
    try {
      patterns.set(pattern, new RegExp(pattern, 'u'));
    } catch {
      patterns.set(pattern, null); // a Python-only construct: leave it to the server
    }
  }
  return patterns.get(pattern)!;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Validate `value`; returns messages keyed by path ("routes[0].when", "retry.max_attempts"). */
export function validate(schema: JsonSchema, value: unknown, root: JsonSchema = schema, path = ''): Errors {
  const errors: Errors = {};
  check(deref(schema, root), value, root, path, errors);
  return errors;
}

function check(schema: JsonSchema, value: unknown, root: JsonSchema, path: string, errors: Errors): void {
  if (value === undefined) return; // absent: the default applies; `required` is checked by the parent
  const union = schema.anyOf ?? schema.oneOf;
  if (union) {
    const branches = union.map((b) => deref(b, root));
    if (value === null && branches.some((b) => b.type === 'null')) return;
    let first: Errors | null = null;
    for (const branch of branches) {
      if (branch.type === 'null') continue;
      const attempt: Errors = {};
      check(branch, value, root, path, attempt);
      if (!Object.keys(attempt).length) return;
      first ??= attempt;
    }
    Object.assign(errors, first ?? { [path]: 'Must be empty' });
    return;
  }
  if (schema.allOf) {
    for (const part of schema.allOf) check(deref(part, root), value, root, path, errors);
  }
  if (schema.const !== undefined && value !== schema.const) {
    errors[path] = `Must be ${JSON.stringify(schema.const)}`;
    return;
  }
  if (schema.enum && !schema.enum.some((option) => option === value)) {
    errors[path] = `Must be one of: ${schema.enum.map((o) => String(o)).join(', ')}`;
    return;
  }
  if (schema.type && !matchesType(schema.type, value)) {
    errors[path] = value === null ? 'Required' : `Must be ${TYPE_WORDS[schema.type] ?? schema.type}`;
    return;
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) {
      errors[path] = schema.minLength === 1 ? 'Must not be empty' : `At least ${plural(schema.minLength, 'character')}`;
    } else if (schema.maxLength !== undefined && value.length > schema.maxLength) {
      errors[path] = `At most ${plural(schema.maxLength, 'character')} (now ${value.length})`;
    } else if (schema.pattern) {
      const regex = compile(schema.pattern);
      if (regex && !regex.test(value)) {
        errors[path] = schema.pattern.startsWith('^[A-Za-z_][A-Za-z0-9_')
          ? 'Use letters, digits, _ or -, starting with a letter or _'
          : `Must match ${schema.pattern}`;
      }
    }
  } else if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors[path] = `Must be at least ${schema.minimum}`;
    else if (schema.maximum !== undefined && value > schema.maximum) errors[path] = `Must be at most ${schema.maximum}`;
    else if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum)
      errors[path] = `Must be more than ${schema.exclusiveMinimum}`;
    else if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum)
      errors[path] = `Must be less than ${schema.exclusiveMaximum}`;
  } else if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      errors[path] = `Add at least ${plural(schema.minItems, 'item')}`;
    } else if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      errors[path] = `At most ${plural(schema.maxItems, 'item')}`;
    }
    if (schema.uniqueItems && new Set(value.map((v) => JSON.stringify(v))).size !== value.length && !errors[path]) {
      errors[path] = 'Each item may appear only once';
    }
    if (schema.items) {
      const items = deref(schema.items, root);
      value.forEach((item, index) => check(items, item, root, joinPath(path, index), errors));
    }
  } else if (typeOf(value) === 'object') {
    const object = value as Record<string, unknown>;
    for (const name of schema.required ?? []) {
      if (object[name] === undefined || object[name] === null) errors[joinPath(path, name)] = 'Required';
    }
    for (const [name, sub] of Object.entries(schema.properties ?? {})) {
      if (object[name] !== undefined) check(deref(sub, root), object[name], root, joinPath(path, name), errors);
    }
    if (schema.additionalProperties === false) {
      for (const name of Object.keys(object)) {
        if (!schema.properties?.[name]) errors[joinPath(path, name)] = `Unknown setting “${name}”`;
      }
    } else if (typeof schema.additionalProperties === 'object') {
      const extra = deref(schema.additionalProperties, root);
      for (const [name, sub] of Object.entries(object)) {
        if (!schema.properties?.[name]) check(extra, sub, root, joinPath(path, name), errors);
      }
    }
  }
}

/** Set `value` at `path` in a copy of `target` (undefined removes the key). */
export function setIn(target: unknown, path: (string | number)[], value: unknown): unknown {
  if (!path.length) return value;
  const [head, ...rest] = path;
  if (typeof head === 'number') {
    const list = Array.isArray(target) ? [...target] : [];
    list[head] = setIn(list[head], rest, value);
    return list;
  }
  const object = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  const next = setIn(object[head], rest, value);
  if (next === undefined) delete object[head];
  else object[head] = next;
  return object;
}

/** "config.routes[0].when" → "routes[0].when" (server issue fields name the config prefix). */
export function configPath(field: string | null | undefined): string | null {
  if (!field) return null;
  if (field === 'config') return '';
  return field.startsWith('config.') ? field.slice('config.'.length) : null;
}
