// Citations in the run view: markers are found in the text, "[n]" is read against the retrieve
// step upstream (the step's own input, else the last retrieve step before it in its flow),
// "[kb:id]" against the run's knowledge_search results or, failing those, the chunk lookup; the
// output renders them as links to the knowledge page's cited chunk.

import { render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../api/events';
import { fakeServer, json } from '../test/fakeServer';
import { CitedText } from './CitedText';
import { citationHref, numberedSourcesFor, parseCitations, resolveCitation, retrievedSources, searchedSources } from './citations';
import { applyEvents, initialRunView } from './reducer';

const source = (chunk: number, doc = 'd1') => ({ base: 'B', base_id: 'b1', document: `${doc}.md`, document_id: doc, chunk_id: chunk, position: chunk });
const retrieved = { query: 'meals', base: 'Handbook', chunks: [{ text: 'Leave', source: source(11) }, { text: 'Meals', source: source(12, 'd2') }], context: '[1] …' };

function events(list: { type: string; step: string | null; data: Record<string, unknown> }[]): RunEvent[] {
  return list.map((e, i) => ({ ...e, seq: i + 1, run: 'r', node: e.step, ts: 1000 + i, status: 'running' })) as unknown as RunEvent[];
}

function ranRun(toolResult?: string) {
  return applyEvents(
    initialRunView('r'),
    events([
      { type: 'run.started', step: null, data: { input: { question: 'meals?' } } },
      { type: 'step.started', step: 'find', data: { attempt: 1, input: { question: 'meals?' }, parent: null, round: 0 } },
      { type: 'step.succeeded', step: 'find', data: { output: retrieved } },
      { type: 'step.started', step: 'answer', data: { attempt: 1, input: retrieved, parent: null, round: 0 } },
      ...(toolResult
        ? [{ type: 'step.tool_call', step: 'answer', data: { id: 'c1', tool: 'knowledge_search', ref: 'knowledge_search', kind: 'builtin', status: 'succeeded', arguments: { query: 'x' }, result: toolResult } }]
        : []),
      { type: 'step.succeeded', step: 'answer', data: { output: 'Up to 40 euros [2].' } },
      { type: 'step.started', step: 'out', data: { attempt: 1, input: 'Up to 40 euros [2].', parent: null, round: 0 } },
      { type: 'step.succeeded', step: 'out', data: { output: 'Up to 40 euros [2].' } },
      { type: 'run.succeeded', step: null, data: { output: 'Up to 40 euros [2].' } },
    ]),
  );
}

let lookups: string[] = [];
fakeServer(({ url }) => {
  lookups.push(url);
  if (url.includes('/api/knowledge/chunks/77/')) return json({ chunk_id: 77, base_id: 'b9', document_id: 'd9', document: 'far.md', position: 3 });
  return json({ error: { code: 'not_found', message: 'no such chunk in your knowledge bases' } }, 404);
});

describe('citation markers', () => {
  it('cuts text into plain pieces and markers, and joined they give the text back', () => {
    const text = 'Meals [1], leave [2, 3] and [kb:45]; not [x] nor [] nor [kb:].';
    const pieces = parseCitations(text);
    expect(pieces.map((p) => p.text).join('')).toBe(text);
    expect(pieces.flatMap((p) => ('citation' in p ? [p.citation] : []))).toEqual([
      { kind: 'number', number: 1 },
      { kind: 'number', number: 2 },
      { kind: 'number', number: 3 },
      { kind: 'chunk', chunkId: 45 },
    ]);
    expect(parseCitations('no markers')).toEqual([{ text: 'no markers' }]);
  });

  it('reads a retrieve output’s sources and nothing else', () => {
    expect(retrievedSources(retrieved)?.map((s) => s.chunk_id)).toEqual([11, 12]);
    expect(retrievedSources('text')).toBeNull();
    expect(retrievedSources({ chunks: [{ text: 'no source' }] })).toBeNull();
  });

  it('resolves [n] against the retrieve step upstream, for a step and for the run’s output', () => {
    const view = ranRun();
    // the worker: its own input is the retrieve output
    const answer = numberedSourcesFor(view, view.steps.answer);
    expect(resolveCitation({ kind: 'number', number: 2 }, answer, new Map())?.document_id).toBe('d2');
    expect(resolveCitation({ kind: 'number', number: 3 }, answer, new Map())).toBeNull();
    // the output node and the run's output: the last retrieve step before them
    expect(numberedSourcesFor(view, view.steps.out).map((s) => s.chunk_id)).toEqual([11, 12]);
    expect(numberedSourcesFor(view, null).map((s) => s.chunk_id)).toEqual([11, 12]);
    // the retrieve step itself has nothing upstream to cite
    expect(numberedSourcesFor(view, view.steps.find)).toEqual([]);
    expect(citationHref('/knowledge/b1', answer[1])).toBe('/knowledge/b1?document=d2&chunk=12');
  });

  it('resolves [kb:id] from the run’s knowledge_search results', () => {
    const result = JSON.stringify({ results: [{ cite: '[kb:31]', text: 'x' }], sources: [source(31, 'd3')] });
    const searched = searchedSources(ranRun(result));
    expect(resolveCitation({ kind: 'chunk', chunkId: 31 }, [], searched)?.document_id).toBe('d3');
    expect(searchedSources(ranRun('{"results": [cut short')).size).toBe(0);
  });
});

describe('CitedText', () => {
  it('links resolved markers to the cited chunk and leaves the others as text', async () => {
    lookups = [];
    const numbered = retrievedSources(retrieved)!;
    const searched = new Map([[31, { base_id: 'b3', document_id: 'd3', chunk_id: 31 }]]);
    render(
      <pre data-testid="out">
        <CitedText text="Meals [2], leave [5], [kb:31], [kb:77] and [kb:78]." numbered={numbered} searched={searched} />
      </pre>,
    );
    expect(screen.getByTestId('out').textContent).toBe('Meals [2], leave [5], [kb:31], [kb:77] and [kb:78].');
    // [kb:77] is not among the run's results: looked up by id; [kb:78] is nowhere (404): text
    await waitFor(() => expect(screen.getAllByTestId('citation-link')).toHaveLength(3));
    const links = screen.getAllByTestId('citation-link');
    expect(links.map((a) => [a.textContent, a.getAttribute('href')])).toEqual([
      ['2', '/knowledge/b1?document=d2&chunk=12'],
      ['[kb:31]', '/knowledge/b3?document=d3&chunk=31'],
      ['[kb:77]', '/knowledge/b9?document=d9&chunk=77'],
    ]);
    expect(lookups.filter((u) => u.includes('/api/knowledge/chunks/')).sort()).toEqual(['/api/knowledge/chunks/77/', '/api/knowledge/chunks/78/']);
  });
});
