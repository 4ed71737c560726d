// Two runs compared: loaded from the API with the nodes' labels from the runs' versions; nodes
// that differ open with their figures and a line diff of the outputs, the same ones folded away.

import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { ComparedStep, RunComparison } from '../api/timeTravel';
import { fakeServer, json } from '../test/fakeServer';
import { RunComparePage } from './RunComparePage';

function step(over: Partial<ComparedStep>): ComparedStep {
  return { step: 's', status: 'succeeded', output: null, error: null, branch: 'out', tokens_in: 0, tokens_out: 0, cost: 0, duration_ms: 12, reused_from: null, ...over };
}

const COMPARISON: RunComparison = {
  a: { id: 'aaaaaaaa-1111', status: 'succeeded', workflow: 'wf', version: 1, totals: { tokens_in: 40, tokens_out: 10, cost: 0.012, by_model: {} }, source: null },
  b: {
    id: 'bbbbbbbb-2222',
    status: 'succeeded',
    workflow: 'wf',
    version: 1,
    totals: { tokens_in: 20, tokens_out: 5, cost: 0.006, by_model: {}, reused: 1, reused_cost: 0.006 },
    source: { run: 'aaaaaaaa-1111', step: 'draft', mode: 'from' },
  },
  nodes: [
    {
      node: 'research',
      a: step({ step: 'research', output: 'Owls fly silently.', tokens_in: 20, tokens_out: 5, cost: 0.006 }),
      b: step({ step: 'research', status: 'reused', output: 'Owls fly silently.', reused_from: { kind: 'recorded', run: 'aaaaaaaa-1111', step: 'research' } }),
      same_output: true,
    },
    {
      node: 'draft',
      a: step({ step: 'draft', output: { title: 'Owls', words: 120 }, tokens_in: 20, tokens_out: 5, cost: 0.006, duration_ms: 900 }),
      b: step({ step: 'draft', output: { title: 'Owls', words: 150 }, tokens_in: 20, tokens_out: 5, cost: 0.006, duration_ms: 1500 }),
      same_output: false,
    },
    { node: 'extra', a: null, b: step({ step: 'extra', output: 'new' }), same_output: false },
  ],
  differences: 2,
};

fakeServer(({ url }) => {
  if (url === '/api/runs/compare/?a=aaaaaaaa-1111&b=bbbbbbbb-2222') return json(COMPARISON);
  if (url === '/api/workflows/wf/versions/1/')
    return json({
      number: 1,
      graph: {
        nodes: [
          { id: 'research', type: 'worker', label: 'Research', position: { x: 0, y: 0 }, config: {} },
          { id: 'draft', type: 'worker', label: 'Draft', position: { x: 0, y: 0 }, config: {} },
        ],
        edges: [],
      },
    });
  return json({ error: { code: 'not_found', message: `no ${url}` } }, 404);
});

describe('two runs compared', () => {
  it('shows each node side by side: the different ones open with a line diff, the same ones folded', async () => {
    window.history.replaceState(null, '', '/workflows/wf/compare?a=aaaaaaaa-1111&b=bbbbbbbb-2222');
    render(<RunComparePage workflowId="wf" />);
    await waitFor(() => expect(screen.getByTestId('run-compare-differences').textContent).toBe('2 of 3 nodes differ.'));

    // the two runs: B was made from A, and reused a step
    const b = screen.getByTestId('run-compare-run-b');
    expect(b.textContent).toContain('Run bbbbbbbb');
    expect(b.textContent).toContain('1 step (saved $0.006)');
    expect(within(b).getByRole('link', { name: 'run aaaaaaaa' })).toBeTruthy();

    // the draft differs: open, figures of both runs, the changed line marked
    const draft = screen.getByTestId('run-compare-node-draft');
    await waitFor(() => expect(draft.querySelector('.rc-node-name')!.textContent).toBe('Draft'));
    expect(draft.querySelector('details')!.open).toBe(true);
    expect(draft.textContent).toContain('900 ms');
    expect(draft.textContent).toContain('1.5 s');
    const diff = within(draft).getByTestId('run-compare-output-diff');
    expect([...diff.querySelectorAll('.rc-line-removed')].map((l) => l.textContent)).toEqual(['−   "words": 120\n']);
    expect([...diff.querySelectorAll('.rc-line-added')].map((l) => l.textContent)).toEqual(['+   "words": 150\n']);

    // a node only B ran: its output wholly added
    const extra = screen.getByTestId('run-compare-node-extra');
    expect(extra.textContent).toContain('not run');
    expect(within(extra).getByTestId('run-compare-output-diff').textContent).toBe('+ new\n');

    // the research is the same (reused in B): folded until asked for
    const research = screen.getByTestId('run-compare-node-research');
    expect(research.dataset.same).toBe('true');
    expect(research.querySelector('details')!.open).toBe(false);
    fireEvent.click(screen.getByTestId('run-compare-show-unchanged'));
    const reopened = screen.getByTestId('run-compare-node-research');
    expect(reopened.querySelector('details')!.open).toBe(true);
    expect(reopened.querySelector('.reused-chip')!.textContent).toBe('reused');
    expect(within(reopened).getByTestId('run-compare-output-same').textContent).toBe('Owls fly silently.');
  });

  it('says what is missing when the address names no runs', async () => {
    window.history.replaceState(null, '', '/workflows/wf/compare');
    render(<RunComparePage workflowId="wf" />);
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('Name the two runs to compare'));
  });
});
