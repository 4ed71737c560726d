import { describe, expect, it } from 'vitest';
import { diffCounts, lineDiff, outputText } from './outputDiff';

describe('the output diff', () => {
  it('compares outputs as text: a string as itself, anything else as pretty JSON', () => {
    expect(outputText('a draft')).toBe('a draft');
    expect(outputText({ n: 1 })).toBe('{\n  "n": 1\n}');
    expect(outputText(null)).toBe('null');
    expect(outputText(undefined)).toBe('');
  });

  it('marks removed and added lines, keeping the ones both have', () => {
    const rows = lineDiff(outputText({ title: 'Owls', words: 120 }), outputText({ title: 'Owls', words: 150 }));
    expect(rows).toEqual([
      { kind: 'same', text: '{' },
      { kind: 'same', text: '  "title": "Owls",' },
      { kind: 'removed', text: '  "words": 120' },
      { kind: 'added', text: '  "words": 150' },
      { kind: 'same', text: '}' },
    ]);
    expect(diffCounts(rows!)).toEqual({ added: 1, removed: 1 });
  });

  it('folds long unchanged stretches to a few lines of context', () => {
    const before = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n');
    const after = before.replace('line 15', 'line fifteen');
    const rows = lineDiff(before, after)!;
    expect(rows[0]).toEqual({ kind: 'gap', count: 12 });
    expect(rows.slice(1, 4).map((r) => r.kind)).toEqual(['same', 'same', 'same']);
    expect(rows[4]).toEqual({ kind: 'removed', text: 'line 15' });
    expect(rows[5]).toEqual({ kind: 'added', text: 'line fifteen' });
    expect(rows[rows.length - 1]).toEqual({ kind: 'gap', count: 11 });
    expect(diffCounts(rows)).toEqual({ added: 1, removed: 1 });
  });

  it('shows a step that only one run has as wholly added or removed', () => {
    expect(lineDiff('', 'new\ntext')).toEqual([
      { kind: 'added', text: 'new' },
      { kind: 'added', text: 'text' },
    ]);
    expect(lineDiff('old', '')).toEqual([{ kind: 'removed', text: 'old' }]);
  });
});
