// A line diff of two step outputs, as the run comparison shows it: each output as text (a string
// as itself, anything else as pretty-printed JSON), compared line by line (jsdiff's Myers diff),
// long stretches of unchanged lines folded to a few lines of context around each change.

import { diffLines } from 'diff';

export type DiffRow =
  | { kind: 'same' | 'added' | 'removed'; text: string }
  /** unchanged lines folded away */
  | { kind: 'gap'; count: number };

/** Past this many edits the outputs are shown whole, side by side, not line by line. */
const MAX_EDITS = 2000;

/** An output as the lines it is compared by; null/undefined (no step) as no text at all. */
export function outputText(value: unknown): string {
  if (value === undefined || value === null) return value === null ? 'null' : '';
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

function lines(text: string): string[] {
  if (!text) return [];
  const split = text.split('\n');
  if (split[split.length - 1] === '') split.pop(); // the line break that ends the text
  return split;
}

/** The rows of a line diff from `before` to `after`; null when they differ too much to diff
 * (the caller shows both whole). `context`: unchanged lines kept around each change. */
export function lineDiff(before: string, after: string, context = 3): DiffRow[] | null {
  // each side ends with a line break, so a last line that changed is compared as a whole line
  const a = before && !before.endsWith('\n') ? `${before}\n` : before;
  const b = after && !after.endsWith('\n') ? `${after}\n` : after;
  const changes = diffLines(a, b, { maxEditLength: MAX_EDITS });
  if (!changes) return null;
  const rows: { kind: 'same' | 'added' | 'removed'; text: string }[] = [];
  for (const change of changes) {
    const kind = change.added ? 'added' : change.removed ? 'removed' : 'same';
    for (const text of lines(change.value)) rows.push({ kind, text });
  }
  return fold(rows, context);
}

/** Unchanged stretches longer than twice the context, folded to a gap between their edges. */
function fold(rows: { kind: 'same' | 'added' | 'removed'; text: string }[], context: number): DiffRow[] {
  const out: DiffRow[] = [];
  let i = 0;
  while (i < rows.length) {
    if (rows[i].kind !== 'same') {
      out.push(rows[i]);
      i += 1;
      continue;
    }
    let j = i;
    while (j < rows.length && rows[j].kind === 'same') j += 1;
    const run = rows.slice(i, j);
    const head = i === 0 ? 0 : context; // context after the change before it
    const tail = j === rows.length ? 0 : context; // context before the change after it
    if (run.length > head + tail + 1) {
      out.push(...run.slice(0, head));
      out.push({ kind: 'gap', count: run.length - head - tail });
      out.push(...run.slice(run.length - tail));
    } else {
      out.push(...run);
    }
    i = j;
  }
  return out;
}

/** How many lines were added and removed. */
export function diffCounts(rows: DiffRow[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const row of rows) {
    if (row.kind === 'added') added += 1;
    else if (row.kind === 'removed') removed += 1;
  }
  return { added, removed };
}
