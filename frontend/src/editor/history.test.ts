import { describe, expect, it } from 'vitest';
import { canRedo, canUndo, createHistory, record, redo, undo } from './history';

describe('undo/redo store', () => {
  it('undoes and redoes changes in order', () => {
    let h = createHistory<string>();
    let doc = 'a';
    h = record(h, doc, null, 0);
    doc = 'ab';
    h = record(h, doc, null, 10);
    doc = 'abc';
    expect(canUndo(h)).toBe(true);
    expect(canRedo(h)).toBe(false);

    let step = undo(h, doc)!;
    [h, doc] = [step.history, step.state];
    expect(doc).toBe('ab');
    step = undo(h, doc)!;
    [h, doc] = [step.history, step.state];
    expect(doc).toBe('a');
    expect(undo(h, doc)).toBeNull();
    expect(canRedo(h)).toBe(true);

    step = redo(h, doc)!;
    [h, doc] = [step.history, step.state];
    expect(doc).toBe('ab');
    step = redo(h, doc)!;
    [h, doc] = [step.history, step.state];
    expect(doc).toBe('abc');
    expect(redo(h, doc)).toBeNull();
  });

  it('forgets the redo branch when a new change is made after an undo', () => {
    let h = record(createHistory<number>(), 1, null, 0);
    const step = undo(h, 2)!;
    h = record(step.history, step.state, null, 10);
    expect(canRedo(h)).toBe(false);
    expect(h.past).toEqual([1]);
  });

  it('coalesces a run of edits to one field into one undo step', () => {
    let h = createHistory<string>();
    h = record(h, '', 'config:n1:template', 0);
    h = record(h, 'H', 'config:n1:template', 300);
    h = record(h, 'He', 'config:n1:template', 600);
    expect(h.past).toEqual(['']);
    // another field, or a pause, starts a new step
    h = record(h, 'Hel', 'config:n1:model', 700);
    h = record(h, 'Hel!', 'config:n1:model', 5000);
    expect(h.past).toEqual(['', 'Hel', 'Hel!']);
    // changes without a key never coalesce
    h = record(h, 'x', null, 5001);
    h = record(h, 'y', null, 5002);
    expect(h.past).toHaveLength(5);
  });

  it('after an undo, the next edit of the same field is a new step', () => {
    let h = record(createHistory<string>(), 'a', 'k', 0);
    const step = undo(h, 'ab')!;
    h = record(step.history, 'a', 'k', 100);
    expect(h.past).toEqual(['a']);
    expect(h.lastKey).toBe('k');
  });

  it('keeps at most `limit` steps, dropping the oldest', () => {
    let h = createHistory<number>(3);
    for (let i = 0; i < 5; i += 1) h = record(h, i, null, i);
    expect(h.past).toEqual([2, 3, 4]);
  });
});
