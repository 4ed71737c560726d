// Citations in a step's output: "[1]" numbers a passage of the context a retrieve step handed on
// (its output's chunks, in order), "[kb:12]" names a chunk the knowledge_search tool gave a
// worker. Both lead to the cited chunk on the knowledge page: /knowledge/<base>?document=…&chunk=….
//
// "[n]" is read against the retrieve step upstream: the step's own input when it is a retrieve
// step's output (the worker right after it), else the last retrieve step of the same flow that
// came before it in the run (an output node after that worker). "[kb:id]" is read from the
// sources the run's knowledge_search calls answered; one not among them (a result cut short) is
// looked up by the chunk id (GET /api/knowledge/chunks/<id>/, only the user's bases).

import type { RunView, StepView } from './reducer';

/** Where a cited chunk is: enough to open it on the knowledge page. */
export interface ChunkSource {
  base_id: string;
  document_id: string;
  chunk_id: number;
  document?: string;
}

export type Citation = { kind: 'number'; number: number } | { kind: 'chunk'; chunkId: number };

/** A piece of text: plain, or a citation marker with the text it was written as. */
export type Piece = { text: string } | { text: string; citation: Citation };

// "[1]", "[12]", "[kb:34]"; several numbers in one pair of brackets ("[1, 2]") are split too.
const MARKER = /\[(?:kb:(\d{1,18})|(\d{1,3}(?:\s*,\s*\d{1,3})*))\]/g;

/** The text cut into plain pieces and citation markers, in order (joined, they give it back). */
export function parseCitations(text: string): Piece[] {
  const pieces: Piece[] = [];
  let last = 0;
  for (const match of text.matchAll(MARKER)) {
    const at = match.index ?? 0;
    if (at > last) pieces.push({ text: text.slice(last, at) });
    if (match[1] !== undefined) {
      pieces.push({ text: match[0], citation: { kind: 'chunk', chunkId: Number(match[1]) } });
    } else {
      // "[1, 2]": one link per number, the brackets and commas kept as plain text
      const numbers = match[2].split(',');
      pieces.push({ text: '[' });
      numbers.forEach((raw, i) => {
        const number = Number(raw.trim());
        if (i > 0) pieces.push({ text: ', ' });
        pieces.push({ text: String(number), citation: { kind: 'number', number } });
      });
      pieces.push({ text: ']' });
    }
    last = at + match[0].length;
  }
  if (last < text.length) pieces.push({ text: text.slice(last) });
  return mergePlain(pieces);
}

function mergePlain(pieces: Piece[]): Piece[] {
  const merged: Piece[] = [];
  for (const piece of pieces) {
    const previous = merged[merged.length - 1];
    if (previous && !('citation' in previous) && !('citation' in piece)) previous.text += piece.text;
    else merged.push({ ...piece });
  }
  return merged;
}

function asSource(value: unknown): ChunkSource | null {
  if (!value || typeof value !== 'object') return null;
  const source = value as Record<string, unknown>;
  const chunk = Number(source.chunk_id);
  if (typeof source.base_id !== 'string' || typeof source.document_id !== 'string' || !Number.isInteger(chunk)) return null;
  return {
    base_id: source.base_id,
    document_id: source.document_id,
    chunk_id: chunk,
    ...(typeof source.document === 'string' ? { document: source.document } : {}),
  };
}

/** The sources of a retrieve step's output ({chunks: [{source}, …]}), numbered from 1; else null. */
export function retrievedSources(output: unknown): ChunkSource[] | null {
  if (!output || typeof output !== 'object' || Array.isArray(output)) return null;
  const chunks = (output as { chunks?: unknown }).chunks;
  if (!Array.isArray(chunks)) return null;
  const sources = chunks.map((chunk) => asSource((chunk as { source?: unknown } | null)?.source));
  return sources.every((s) => s !== null) ? (sources as ChunkSource[]) : null;
}

/** The numbered sources "[n]" in this step's output refer to (step null: the run's output). */
export function numberedSourcesFor(view: RunView, step: StepView | null): ChunkSource[] {
  if (step) {
    const direct = retrievedSources(step.input);
    if (direct) return direct;
  }
  const until = step ? view.order.indexOf(step.id) : view.order.length;
  const flow = step ? step.inFlow : null;
  for (let i = (until < 0 ? view.order.length : until) - 1; i >= 0; i--) {
    const earlier = view.steps[view.order[i]];
    if (!earlier || earlier.inFlow !== flow || earlier === step) continue;
    const sources = retrievedSources(earlier.output);
    if (sources) return sources;
  }
  return [];
}

/** Every chunk the run's knowledge_search calls answered, by chunk id. */
export function searchedSources(view: RunView): Map<number, ChunkSource> {
  const found = new Map<number, ChunkSource>();
  for (const id of view.order) {
    for (const call of view.steps[id]?.toolCalls ?? []) {
      if (call.tool !== 'knowledge_search' || call.status !== 'succeeded' || !call.result) continue;
      let result: unknown;
      try {
        result = JSON.parse(call.result);
      } catch {
        continue; // cut short: its chunks are looked up by id
      }
      const sources = (result as { sources?: unknown } | null)?.sources;
      if (!Array.isArray(sources)) continue;
      for (const raw of sources) {
        const source = asSource(raw);
        if (source) found.set(source.chunk_id, source);
      }
    }
  }
  return found;
}

/** What a citation leads to, from what the run holds; null: not known here (or no such number). */
export function resolveCitation(citation: Citation, numbered: ChunkSource[], searched: Map<number, ChunkSource>): ChunkSource | null {
  if (citation.kind === 'number') return numbered[citation.number - 1] ?? null;
  return searched.get(citation.chunkId) ?? null;
}

/** The knowledge page's address that opens the cited chunk. */
export function citationHref(base: string, source: ChunkSource): string {
  const query = new URLSearchParams({ document: source.document_id, chunk: String(source.chunk_id) });
  return `${base}?${query.toString()}`;
}
