// Pure pieces of the models settings page and the model pickers: the source badge, a row's edit
// state (dirty / saving / error), parsing the edited numbers, and the suggestions with prices.

import { ApiError } from '../api/client';
import type { ModelCapabilities, ModelEntry, ModelInput } from '../api/models';

export type Badge = 'built-in' | 'custom' | 'overridden';

export function sourceBadge(entry: Pick<ModelEntry, 'source' | 'builtin'>): Badge {
  if (entry.source === 'builtin') return 'built-in';
  return entry.builtin ? 'overridden' : 'custom';
}

/** Only the workspace's own entries can be reset. */
export function canReset(entry: Pick<ModelEntry, 'source'>): boolean {
  return entry.source === 'workspace';
}

export function formatPrice(price: number): string {
  if (!Number.isFinite(price)) return '';
  return `$${price < 0.01 && price > 0 ? price.toPrecision(2) : price.toFixed(2)}`;
}

export function formatContext(context: number | null): string {
  if (context === null || context === undefined) return '—';
  if (context >= 1_000_000 && context % 1000 === 0) return `${+(context / 1_000_000).toFixed(2)}M`;
  if (context >= 1000) return `${+(context / 1000).toFixed(1)}k`;
  return String(context);
}

// ---- edit form (a row or the "Add model" form) ----

export interface Draft {
  model: string;
  input_price: string;
  output_price: string;
  context: string;
  structured_output: string;
  stream_usage: string;
  tools: string;
}

export type CapabilityName = keyof ModelCapabilities;

/** The capability settings a model takes, as the settings page offers them ('' is auto). */
export const CAPABILITIES: { name: CapabilityName; label: string; choices: { value: string; label: string }[] }[] = [
  {
    name: 'structured_output',
    label: 'Structured output',
    choices: [
      { value: '', label: 'auto (detect)' },
      { value: 'json_schema', label: 'json_schema' },
      { value: 'json_object', label: 'json_object + schema' },
      { value: 'instructions', label: 'instructions' },
    ],
  },
  {
    name: 'stream_usage',
    label: 'Streamed usage',
    choices: [
      { value: '', label: 'auto (detect)' },
      { value: 'reported', label: 'reported' },
      { value: 'counted', label: 'counted' },
    ],
  },
  {
    name: 'tools',
    label: 'Tools',
    choices: [
      { value: '', label: 'auto (detect)' },
      { value: 'native', label: 'native' },
      { value: 'prompted', label: 'prompted' },
    ],
  },
];

export type FieldErrors = Partial<Record<keyof Draft, string>>;

export function draftOf(entry: ModelEntry): Draft {
  return {
    model: entry.model,
    input_price: String(entry.input_price),
    output_price: String(entry.output_price),
    context: entry.context === null || entry.context === undefined ? '' : String(entry.context),
    structured_output: entry.structured_output ?? '',
    stream_usage: entry.stream_usage ?? '',
    tools: entry.tools ?? '',
  };
}

export const EMPTY_DRAFT: Draft = { model: '', input_price: '', output_price: '', context: '', structured_output: '', stream_usage: '', tools: '' };

// as the server's ModelPriceSerializer (editor/views.py MODEL_ID)
const MODEL_ID = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.:/-]+$/;

/** The request body, or the errors the client can see before asking the server. */
export function parseDraft(draft: Draft): { input: ModelInput; errors: null } | { input: null; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const model = draft.model.trim();
  if (!model) errors.model = 'Enter a model id.';
  else if (!MODEL_ID.test(model)) errors.model = 'Use the form provider/name, e.g. openai/gpt-4o-mini.';
  const price = (name: 'input_price' | 'output_price'): number => {
    const text = draft[name].trim();
    const value = Number(text);
    if (!text) errors[name] = 'Enter a price.';
    else if (!Number.isFinite(value) || value < 0) errors[name] = 'Enter a price of 0 or more.';
    return value;
  };
  const input_price = price('input_price');
  const output_price = price('output_price');
  let context: number | null = null;
  const contextText = draft.context.trim();
  if (contextText) {
    const value = Number(contextText);
    if (!Number.isInteger(value) || value <= 0) errors.context = 'Enter a whole number of tokens, or leave it empty.';
    else context = value;
  }
  if (Object.keys(errors).length) return { input: null, errors };
  const capabilities = {
    structured_output: draft.structured_output,
    stream_usage: draft.stream_usage,
    tools: draft.tools,
  } as ModelCapabilities;
  return { input: { model, input_price, output_price, context, ...capabilities }, errors: null };
}

/** The server's field messages, by draft field; anything else goes to `form`. */
export function apiFieldErrors(error: unknown): { fields: FieldErrors; form: string | null } {
  if (!(error instanceof ApiError)) return { fields: {}, form: error instanceof Error ? error.message : String(error) };
  const fields: FieldErrors = {};
  for (const name of ['model', 'input_price', 'output_price', 'context', 'structured_output', 'stream_usage', 'tools'] as const) {
    const message = error.fieldMessage(name);
    if (message) fields[name] = message;
  }
  const known = Object.keys(fields).length;
  const other = Object.keys(error.fields).filter((name) => !(name in fields));
  const form = known && !other.length ? null : [error.message, ...other.map((name) => `${name}: ${error.fieldMessage(name)}`)].join(' ');
  return { fields, form };
}

export interface RowState {
  draft: Draft;
  saving: boolean;
  errors: FieldErrors;
  error: string | null;
}

export type RowAction =
  | { type: 'edit'; field: keyof Draft; value: string }
  | { type: 'saving' }
  | { type: 'failed'; errors: FieldErrors; error: string | null }
  | { type: 'saved'; entry: ModelEntry };

export function initialRow(entry: ModelEntry): RowState {
  return { draft: draftOf(entry), saving: false, errors: {}, error: null };
}

export function rowReducer(state: RowState, action: RowAction): RowState {
  switch (action.type) {
    case 'edit': {
      const errors = { ...state.errors };
      delete errors[action.field];
      return { ...state, draft: { ...state.draft, [action.field]: action.value }, errors, error: null };
    }
    case 'saving':
      return { ...state, saving: true, errors: {}, error: null };
    case 'failed':
      return { ...state, saving: false, errors: action.errors, error: action.error };
    case 'saved':
      return initialRow(action.entry);
  }
}

/** True when the row's fields differ from the entry (numbers compared as numbers). */
export function isDirty(draft: Draft, entry: ModelEntry): boolean {
  const same = (text: string, value: number | null) => {
    const t = text.trim();
    if (value === null || value === undefined) return t === '';
    return t !== '' && Number(t) === value;
  };
  const capabilityChanged = CAPABILITIES.some(({ name }) => draft[name] !== (entry[name] ?? ''));
  return !same(draft.input_price, entry.input_price) || !same(draft.output_price, entry.output_price) || !same(draft.context, entry.context) || capabilityChanged;
}

// ---- the model pickers ----

export interface ModelOption {
  value: string;
  label?: string;
}

export const TIERS = ['fast', 'strong'];

export function priceLabel(entry: Pick<ModelEntry, 'input_price' | 'output_price'>): string {
  return `${formatPrice(entry.input_price)} in / ${formatPrice(entry.output_price)} out per M tokens`;
}

/** Tiers first, then the type's examples, the catalogue (with prices) and the fixed list; no repeats. */
export function modelOptions(catalogue: ModelEntry[] | null, examples: string[] = [], fallback: string[] = []): ModelOption[] {
  const seen = new Map<string, ModelOption>();
  const add = (value: string, label?: string) => {
    const existing = seen.get(value);
    if (!existing) seen.set(value, { value, label });
    else if (label && !existing.label) existing.label = label;
  };
  for (const tier of TIERS) add(tier, 'tier');
  for (const example of examples) add(example, TIERS.includes(example) ? 'tier' : undefined);
  // what can be called now first; the rest say why not (no key for its vendor yet)
  const ready = (catalogue ?? []).filter((e) => !e.unavailable);
  const later = (catalogue ?? []).filter((e) => e.unavailable);
  for (const entry of ready) add(entry.model, entry.note ? `${priceLabel(entry)} · ${entry.note}` : `${entry.unavailable === '' ? 'ready · ' : ''}${priceLabel(entry)}`);
  for (const entry of later) add(entry.model, `not set up: ${entry.unavailable}`);
  // the fixed list last: it keeps the picker useful before (or without) the catalogue
  for (const model of fallback) add(model);
  return [...seen.values()];
}

/** The catalogue's note on a model (what it is for, what it needs), if it has one. */
export function modelNote(catalogue: ModelEntry[] | null | undefined, model: string): string | null {
  const value = model.trim();
  if (!value) return null;
  const entry = catalogue?.find((e) => e.model === value);
  if (entry?.unavailable) return `Not set up here: ${entry.unavailable}.`;
  return entry?.note || null;
}
