import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import type { ModelEntry } from '../api/models';
import {
  apiFieldErrors,
  canReset,
  draftOf,
  EMPTY_DRAFT,
  formatContext,
  initialRow,
  isDirty,
  modelNote,
  modelOptions,
  parseDraft,
  rowReducer,
  sourceBadge,
} from './catalogue';

const entry = (over: Partial<ModelEntry> = {}): ModelEntry => ({
  model: 'openai/gpt-4o-mini',
  input_price: 0.15,
  output_price: 0.6,
  context: 128000,
  source: 'builtin',
  builtin: true,
  ...over,
});

describe('source badge', () => {
  it('maps source and builtin to built-in / custom / overridden', () => {
    expect(sourceBadge(entry())).toBe('built-in');
    expect(sourceBadge(entry({ source: 'workspace', builtin: false }))).toBe('custom');
    expect(sourceBadge(entry({ source: 'workspace', builtin: true }))).toBe('overridden');
  });
  it('offers reset only for the workspace entries', () => {
    expect(canReset(entry())).toBe(false);
    expect(canReset(entry({ source: 'workspace', builtin: true }))).toBe(true);
    expect(canReset(entry({ source: 'workspace', builtin: false }))).toBe(true);
  });
});

describe('formatting', () => {
  it('formats the context', () => {
    expect(formatContext(null)).toBe('—');
    expect(formatContext(128000)).toBe('128k');
    expect(formatContext(1_000_000)).toBe('1M');
    expect(formatContext(512)).toBe('512');
  });
});

describe('parseDraft', () => {
  it('parses a valid draft; an empty context is null', () => {
    expect(parseDraft({ ...EMPTY_DRAFT, model: ' acme/big ', input_price: '1', output_price: '2.5', context: '' })).toEqual({
      input: { model: 'acme/big', input_price: 1, output_price: 2.5, context: null, structured_output: '', stream_usage: '', tools: '' },
      errors: null,
    });
    expect(parseDraft({ ...EMPTY_DRAFT, model: 'ollama/llama3.1:8b', input_price: '0', output_price: '0', context: '8192' }).input?.context).toBe(8192);
    expect(parseDraft({ ...EMPTY_DRAFT, model: 'acme/a b', input_price: '0', output_price: '0', context: '' }).errors?.model).toBeTruthy();
  });
  it('sends the capability settings as chosen ("" is auto)', () => {
    const draft = { ...EMPTY_DRAFT, model: 'openai/llama3', input_price: '0', output_price: '0', structured_output: 'json_object', tools: 'prompted' };
    expect(parseDraft(draft).input).toMatchObject({ structured_output: 'json_object', stream_usage: '', tools: 'prompted' });
  });
  it('reports every bad field', () => {
    const { errors } = parseDraft(EMPTY_DRAFT);
    expect(Object.keys(errors ?? {}).sort()).toEqual(['input_price', 'model', 'output_price']);
    const bad = parseDraft({ ...EMPTY_DRAFT, model: 'gpt-4o', input_price: '-1', output_price: 'x', context: '1.5' }).errors;
    expect(bad?.model).toMatch(/provider\/name/);
    expect(bad?.input_price).toBeTruthy();
    expect(bad?.output_price).toBeTruthy();
    expect(bad?.context).toMatch(/whole number/);
  });
});

describe('apiFieldErrors', () => {
  it('puts the server field messages under their fields', () => {
    const error = new ApiError(400, { code: 'invalid', message: 'Invalid model.', fields: { model: ['Must look like provider/name.'], input_price: 'Too big.' } });
    expect(apiFieldErrors(error)).toEqual({ fields: { model: 'Must look like provider/name.', input_price: 'Too big.' }, form: null });
  });
  it('keeps a message for errors without known fields', () => {
    expect(apiFieldErrors(new ApiError(500, { code: 'x', message: 'Boom.' }))).toEqual({ fields: {}, form: 'Boom.' });
    expect(apiFieldErrors(new ApiError(400, { code: 'x', message: 'Bad.', fields: { other: ['No.'] } })).form).toBe('Bad. other: No.');
    expect(apiFieldErrors(new Error('offline')).form).toBe('offline');
  });
});

describe('row state', () => {
  it('is dirty only when a value differs as a number', () => {
    const e = entry();
    const row = initialRow(e);
    expect(isDirty(row.draft, e)).toBe(false);
    expect(isDirty({ ...row.draft, input_price: '0.150' }, e)).toBe(false);
    expect(isDirty({ ...row.draft, input_price: '0.2' }, e)).toBe(true);
    expect(isDirty({ ...row.draft, context: '' }, e)).toBe(true);
    const none = entry({ context: null });
    expect(isDirty(draftOf(none), none)).toBe(false);
    expect(isDirty({ ...draftOf(none), context: '4096' }, none)).toBe(true);
  });

  it('is dirty when a capability setting differs; an entry without one is auto', () => {
    const e = entry({ structured_output: 'json_object' });
    expect(draftOf(e)).toMatchObject({ structured_output: 'json_object', stream_usage: '', tools: '' });
    expect(isDirty(draftOf(e), e)).toBe(false);
    expect(isDirty({ ...draftOf(e), structured_output: '' }, e)).toBe(true);
    expect(isDirty({ ...draftOf(e), tools: 'prompted' }, e)).toBe(true);
  });

  it('goes edit → saving → failed → edit clears that field → saved resets', () => {
    const e = entry();
    let state = rowReducer(initialRow(e), { type: 'edit', field: 'input_price', value: '0.2' });
    expect(state.draft.input_price).toBe('0.2');
    state = rowReducer(state, { type: 'saving' });
    expect(state.saving).toBe(true);
    state = rowReducer(state, { type: 'failed', errors: { input_price: 'Too big.', context: 'No.' }, error: 'Invalid.' });
    expect(state).toMatchObject({ saving: false, errors: { input_price: 'Too big.', context: 'No.' }, error: 'Invalid.' });
    state = rowReducer(state, { type: 'edit', field: 'input_price', value: '0.1' });
    expect(state.errors).toEqual({ context: 'No.' });
    expect(state.error).toBeNull();
    const saved = entry({ input_price: 0.1, source: 'workspace' });
    state = rowReducer(state, { type: 'saved', entry: saved });
    expect(state).toEqual(initialRow(saved));
    expect(isDirty(state.draft, saved)).toBe(false);
  });
});

describe('modelOptions', () => {
  it('puts the tiers first, then examples, the catalogue with prices, then the fixed list, without repeats', () => {
    const options = modelOptions([entry(), entry({ model: 'acme/big', input_price: 1, output_price: 2 })], ['strong', 'local/echo'], ['local/echo', 'openai/gpt-4o-mini', 'openai/gpt-4o']);
    expect(options.map((o) => o.value)).toEqual(['fast', 'strong', 'local/echo', 'openai/gpt-4o-mini', 'acme/big', 'openai/gpt-4o']);
    expect(options.find((o) => o.value === 'acme/big')?.label).toBe('$1.00 in / $2.00 out per M tokens');
    expect(options.find((o) => o.value === 'openai/gpt-4o-mini')?.label).toBe('$0.15 in / $0.60 out per M tokens');
  });
  it("adds a model's note to its label, and finds the note of a picked model", () => {
    const local = entry({ model: 'openai/gemma-3-270m', input_price: 0, output_price: 0, note: 'a tiny model for trying flows (needs 2 GB)' });
    const options = modelOptions([entry(), local]);
    expect(options.find((o) => o.value === 'openai/gemma-3-270m')?.label).toBe('$0.00 in / $0.00 out per M tokens · a tiny model for trying flows (needs 2 GB)');
    expect(modelNote([entry(), local], ' openai/gemma-3-270m ')).toBe('a tiny model for trying flows (needs 2 GB)');
    expect(modelNote([entry(), local], 'openai/gpt-4o-mini')).toBeNull();
    expect(modelNote(null, 'openai/gemma-3-270m')).toBeNull();
  });
  it('falls back to the fixed list without a catalogue', () => {
    expect(modelOptions(null, [], ['local/echo']).map((o) => o.value)).toEqual(['fast', 'strong', 'local/echo']);
  });
});
