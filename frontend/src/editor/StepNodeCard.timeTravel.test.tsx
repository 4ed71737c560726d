// Time travel on the canvas cards: a reused step (teal, labelled, linked to where its output came
// from), a re-run preview's marks, Re-run from here / Edit output on a picked finished step, and
// the pin mark of a node with pinned data.

import { ReactFlowProvider } from '@xyflow/react';
import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import type { RunEvent } from '../api/events';
import type { Graph } from '../api/graph';
import { graphToFlow } from '../graph/convert';
import { runStoreOf } from '../run/liveStore';
import { applyEvents, initialRunView } from '../run/reducer';
import { catalogue } from '../test/fixtures';
import { Canvas } from './Canvas';
import { CanvasContext, type CanvasInfo } from './canvasContext';

const chain: Graph = {
  nodes: [
    { id: 'brief', type: 'input', label: 'Brief', position: { x: 0, y: 0 }, config: {} },
    { id: 'research', type: 'worker', label: 'Research', position: { x: 300, y: 0 }, config: { model: 'local/echo' } },
    { id: 'draft', type: 'worker', label: 'Draft', position: { x: 600, y: 0 }, config: { model: 'local/echo' } },
  ],
  edges: [
    { id: 'e1', source: 'brief', target: 'research' },
    { id: 'e2', source: 'research', target: 'draft' },
  ],
};

const reused = (step: string, kind: 'recorded' | 'pinned', seq: number) =>
  ({
    seq,
    type: 'step.reused',
    run: 'r2',
    step,
    node: step,
    status: 'reused',
    data: { input: null, fingerprint: 'f', output: 'x', branch: 'out', from: { kind, run: kind === 'pinned' ? null : 'r1abcdef99', step: kind === 'pinned' ? null : step }, saved_cost: 0, saved_tokens: 0 },
    ts: seq,
  }) as RunEvent;

const VIEW = applyEvents(initialRunView('r2'), [
  { seq: 1, type: 'run.started', run: 'r2', step: null, node: null, status: 'running', data: { input: {} }, ts: 1 } as RunEvent,
  reused('brief', 'recorded', 2),
  reused('research', 'pinned', 3),
  { seq: 4, type: 'step.started', run: 'r2', step: 'draft', node: 'draft', status: 'running', data: { attempt: 1, input: 'x', parent: null, round: 0 }, ts: 4 } as RunEvent,
  { seq: 5, type: 'step.succeeded', run: 'r2', step: 'draft', node: 'draft', status: 'succeeded', data: { output: 'y', branch: 'out', attempt: 1, model: null, tokens_in: 0, tokens_out: 0, cost: 0, duration_ms: 5 }, ts: 5 } as RunEvent,
]);

function renderCanvas(info: Partial<CanvasInfo>, selected?: string) {
  const { nodes, edges } = graphToFlow(chain);
  const value: CanvasInfo = { catalogue, nodeIssues: new Map(), edgeIssues: new Map(), run: null, readOnly: true, ...info };
  return render(
    <ReactFlowProvider>
      <CanvasContext.Provider value={value}>
        <div style={{ width: 1200, height: 800 }}>
          <Canvas nodes={nodes.map((n) => ({ ...n, selected: n.id === selected }))} edges={edges} />
        </div>
      </CanvasContext.Provider>
    </ReactFlowProvider>,
  );
}

describe('time travel on the cards', () => {
  it('shows a reused step as reused, linked to the step it came from, and a pinned one as pinned', () => {
    renderCanvas({ run: runStoreOf(VIEW, chain), runPath: (run, step) => `/workflows/wf/runs/${run}?step=${step}` });
    expect(screen.getByTestId('node-brief').getAttribute('data-status')).toBe('reused');
    const link = screen.getByTestId('node-reused-brief').querySelector('a')!;
    expect(link.textContent).toBe('from run r1abcdef · step brief');
    expect(link.getAttribute('href')).toBe('/workflows/wf/runs/r1abcdef99?step=brief');
    expect(screen.getByTestId('node-reused-research').textContent).toBe('pinned');
    expect(screen.getByTestId('node-status-brief').textContent).toBe('↺');
  });

  it('marks what an open re-run preview would do with each node', () => {
    const plan = new Map([
      ['brief', 'reuse' as const],
      ['draft', 'execute' as const],
    ]);
    renderCanvas({ run: runStoreOf(VIEW, chain), plan });
    expect(screen.getByTestId('node-brief').getAttribute('data-plan')).toBe('reuse');
    expect(screen.getByTestId('node-plan-draft').textContent).toBe('runs again');
    expect(screen.getByTestId('node-research').getAttribute('data-plan')).toBeNull();
  });

  it('offers Re-run from here and Edit output on the picked finished step, where the user may run', () => {
    const onRerun = vi.fn();
    renderCanvas({ run: runStoreOf(VIEW, chain), onRerun }, 'draft');
    expect(screen.queryByTestId('rerun-from-research')).toBeNull(); // not picked
    fireEvent.click(screen.getByTestId('rerun-from-draft'));
    expect(onRerun).toHaveBeenLastCalledWith('from', 'draft');
    fireEvent.click(screen.getByTestId('edit-output-draft'));
    expect(onRerun).toHaveBeenLastCalledWith('edit', 'draft');
  });

  it('offers nothing without the right to run', () => {
    renderCanvas({ run: runStoreOf(VIEW, chain) }, 'draft');
    expect(screen.queryByTestId('rerun-from-draft')).toBeNull();
  });

  it('marks pinned nodes in the editor', () => {
    renderCanvas({ readOnly: false, pinned: new Set(['research']) });
    expect(screen.getByTestId('node-pin-research')).toBeTruthy();
    expect(screen.getByTestId('node-research').className).toContain('pinned');
    expect(screen.queryByTestId('node-pin-draft')).toBeNull();
  });
});
