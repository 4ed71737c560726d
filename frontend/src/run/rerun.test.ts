// The words and checks of time travel: the preview's sentence, the edited output's JSON check,
// which steps can be re-run or edited, and where each request goes.

import { describe, expect, it } from 'vitest';
import { rerunRequest, type RerunPreview } from '../api/timeTravel';
import { canEditOutput, canRerunFrom, canRetry, editableText, parseEditedOutput, previewText, reusedLabel, sourcePrefix } from './rerun';

function preview(over: Partial<RerunPreview> = {}): RerunPreview {
  return {
    mode: 'from',
    version: 3,
    nodes: [],
    execute: 4,
    reuse: 9,
    skip: 0,
    estimated_cost: 0.031,
    reused_cost: 0,
    not_estimated: [],
    ...over,
  };
}

describe('the preview, in words', () => {
  it('says how many steps execute, about what they cost, and how many are reused', () => {
    expect(previewText(preview())).toBe('This re-executes 4 steps (about $0.031 at catalogue prices) and reuses 9.');
    expect(previewText(preview({ execute: 1, reuse: 1, estimated_cost: 0.5 }))).toBe(
      'This re-executes 1 step (about $0.5 at catalogue prices) and reuses 1.',
    );
  });

  it('adds what reusing saves, what stays skipped and what cannot be estimated', () => {
    const text = previewText(preview({ reused_cost: 0.12, skip: 2, not_estimated: ['late'] }));
    expect(text).toBe(
      'This re-executes 4 steps (about $0.031 at catalogue prices) and reuses 9. 2 steps stay skipped. ' +
        'Reusing saves about $0.12. 1 step never ran before, so its cost is not in the estimate.',
    );
  });

  it('says so when nothing has a price, or nothing is known in advance', () => {
    expect(previewText(preview({ estimated_cost: 0 }))).toBe('This re-executes 4 steps (they cost nothing last time) and reuses 9.');
    expect(previewText(preview({ execute: 1, estimated_cost: 0 }))).toBe('This re-executes 1 step (it cost nothing last time) and reuses 9.');
    expect(previewText(preview({ execute: 2, estimated_cost: 0, not_estimated: ['a', 'b'] }))).toBe(
      'This re-executes 2 steps (cost not known in advance) and reuses 9.',
    );
  });

  it('says when nothing would run again', () => {
    expect(previewText(preview({ execute: 0, reuse: 5, estimated_cost: 0 }))).toBe('This re-executes nothing and reuses 5 steps.');
  });
});

describe('an edited output', () => {
  it('is JSON: any value, null included', () => {
    expect(parseEditedOutput('{"facts": ["a", "b"]}')).toEqual({ ok: true, value: { facts: ['a', 'b'] } });
    expect(parseEditedOutput('null')).toEqual({ ok: true, value: null });
    expect(parseEditedOutput(' "a text" ')).toEqual({ ok: true, value: 'a text' });
    expect(parseEditedOutput('42')).toEqual({ ok: true, value: 42 });
  });

  it('is refused with a reason when it is not JSON, or empty', () => {
    const broken = parseEditedOutput('{"facts": [');
    expect(broken.ok).toBe(false);
    expect(!broken.ok && broken.message).toMatch(/^Not valid JSON: /);
    expect(parseEditedOutput('plain words')).toMatchObject({ ok: false });
    expect(parseEditedOutput('   ')).toEqual({ ok: false, message: 'Type a JSON value (null for no output).' });
  });

  it('starts from the step’s output: pretty JSON, or a text as itself', () => {
    expect(editableText({ a: [1] }, 'json')).toBe('{\n  "a": [\n    1\n  ]\n}');
    expect(editableText('a draft', 'json')).toBe('"a draft"');
    expect(editableText('a draft', 'text')).toBe('a draft');
    expect(editableText(undefined, 'json')).toBe('null');
  });
});

describe('what can be re-run', () => {
  it('a finished step, top-level or a delegated task, not a skipped one or a task of a task', () => {
    for (const status of ['succeeded', 'reused', 'failed', 'cancelled']) expect(canRerunFrom({ status })).toBe(true);
    for (const status of ['skipped', 'running', 'queued', 'waiting', 'pending']) expect(canRerunFrom({ status })).toBe(false);
    expect(canRerunFrom({ status: 'succeeded' }, 1)).toBe(true); // a manager's subtask
    expect(canRerunFrom({ status: 'succeeded' }, 2)).toBe(false); // a task of that task
    expect(canRerunFrom(undefined)).toBe(false);
  });

  it('only a succeeded (or reused) step’s output can be edited', () => {
    expect(canEditOutput({ status: 'succeeded' })).toBe(true);
    expect(canEditOutput({ status: 'reused' })).toBe(true);
    expect(canEditOutput({ status: 'succeeded' }, 1)).toBe(true);
    expect(canEditOutput({ status: 'failed' })).toBe(false);
    expect(canEditOutput({ status: 'succeeded' }, 2)).toBe(false);
  });

  it('a failed or cancelled run can be retried', () => {
    expect(canRetry({ status: 'failed' })).toBe(true);
    expect(canRetry({ status: 'cancelled' })).toBe(true);
    expect(canRetry({ status: 'succeeded' })).toBe(false);
  });

  it('sends a step’s re-run to the step, and a retry to the run', () => {
    expect(rerunRequest('r1', { step: 'draft', version: 'run' })).toEqual({ path: '/api/runs/r1/steps/draft/rerun/', body: { version: 'run' } });
    expect(rerunRequest('r1', { step: 'draft', output: null, version: 'current' })).toEqual({
      path: '/api/runs/r1/steps/draft/rerun/',
      body: { output: null, version: 'current' },
    });
    expect(rerunRequest('r1', { version: 'current' })).toEqual({ path: '/api/runs/r1/rerun/', body: { version: 'current' } });
  });

  it('names where a run came from, and where a reused output came from', () => {
    expect(sourcePrefix('from')).toBe('Re-run of run');
    expect(sourcePrefix('retry')).toBe('Retry of run');
    expect(sourcePrefix('edit')).toBe('Continues from an edited output of run');
    expect(reusedLabel({ kind: 'recorded', run: 'r', step: 's' })).toBe('reused');
    expect(reusedLabel({ kind: 'edited', run: 'r', step: 's' })).toBe('edited');
    expect(reusedLabel({ kind: 'pinned', run: null, step: null })).toBe('pinned');
  });
});
