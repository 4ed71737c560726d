import { ReactFlowProvider, useReactFlow } from '@xyflow/react';
import { act, render, screen } from '@testing-library/react';
import { useEffect } from 'react';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../api/events';
import { graphToFlow } from '../graph/convert';
import { RunStore, runStoreOf } from '../run/liveStore';
import { applyEvents, initialRunView } from '../run/reducer';
import { catalogue, research, team } from '../test/fixtures';
import { Canvas } from './Canvas';
import { CanvasContext, groupIssues, type CanvasInfo } from './canvasContext';

function renderCanvas(graph: typeof research, info: Partial<CanvasInfo>) {
  const { nodes, edges } = graphToFlow(graph);
  const value: CanvasInfo = { catalogue, nodeIssues: new Map(), edgeIssues: new Map(), run: null, readOnly: true, ...info };
  return render(
    <ReactFlowProvider>
      <CanvasContext.Provider value={value}>
        <div style={{ width: 1200, height: 800 }}>
          <Canvas nodes={nodes} edges={edges} />
        </div>
      </CanvasContext.Provider>
    </ReactFlowProvider>,
  );
}

describe('canvas nodes', () => {
  it('renders every node with its test id, type and handles from the catalogue', () => {
    renderCanvas(research, {});
    for (const node of research.nodes) expect(screen.getByTestId(`node-${node.id}`)).toBeTruthy();
    const router = screen.getByTestId('node-size');
    expect(router.getAttribute('data-type')).toBe('router');
    const handles = Array.from(router.querySelectorAll('.react-flow__handle.source')).map((h) => h.getAttribute('data-handleid'));
    expect(handles).toEqual(['long', 'short']);
    expect(screen.getByTestId('node-brief').querySelectorAll('.react-flow__handle.target')).toHaveLength(0);
  });

  it('shows server issues on the node they name', () => {
    const { nodes } = groupIssues([{ code: 'invalid_config', message: 'Field required', node_id: 'merge', field: 'config.template' }]);
    renderCanvas(research, { nodeIssues: nodes, readOnly: false });
    expect(screen.getByTestId('node-error-merge').textContent).toContain('Field required');
    expect(screen.getByTestId('node-merge').getAttribute('data-invalid')).toBe('true');
    expect(screen.queryByTestId('node-error-plan')).toBeNull();
  });

  it('shows run statuses, child badges and the subtree cost on a manager', () => {
    const events = [
      { seq: 1, type: 'run.started', run: 'r', step: null, node: null, status: 'running', data: { input: {} }, ts: 1 },
      { seq: 2, type: 'step.started', run: 'r', step: 'lead', node: 'lead', status: 'running', data: { attempt: 1, input: null, parent: null, round: 0 }, ts: 2 },
      { seq: 3, type: 'step.delegated', run: 'r', step: 'lead', node: 'lead', status: 'running', data: { tasks: [{ step: 'lead.res.1', node: 'res' }] }, ts: 3 },
      { seq: 4, type: 'step.started', run: 'r', step: 'lead.res.1', node: 'res', status: 'running', data: { attempt: 1, input: 't', parent: 'lead', round: 0 }, ts: 4 },
      { seq: 5, type: 'step.succeeded', run: 'r', step: 'lead.res.1', node: 'res', status: 'succeeded', data: { output: 'x', branch: 'out', attempt: 1, model: 'openai/gpt-4o-mini', tokens_in: 1000, tokens_out: 500, cost: 0.00045, duration_ms: 1200 }, ts: 5 },
    ] as RunEvent[];
    const view = applyEvents(initialRunView('r'), events);
    renderCanvas(team, { run: runStoreOf(view, team) });
    expect(screen.getByTestId('node-lead').getAttribute('data-status')).toBe('running');
    expect(screen.getByTestId('node-res').getAttribute('data-status')).toBe('succeeded');
    expect(screen.getByTestId('node-out').getAttribute('data-status')).toBe('pending');
    expect(screen.getByTestId('child-lead.res.1').getAttribute('data-status')).toBe('succeeded');
    expect(screen.getByTestId('node-subtree-lead').textContent).toBe('Σ $0.00045 · 1.5k tok');
    expect(screen.getByTestId('node-figures-res').textContent).toContain('1.2 s');
  });
});

function ZoomTo({ zoom }: { zoom: number }) {
  const flow = useReactFlow();
  useEffect(() => {
    void flow.setViewport({ x: 0, y: 0, zoom });
  }, [flow, zoom]);
  return null;
}

describe('canvas at scale', () => {
  it('redraws a card when its own entry of the run store changes after mount', () => {
    const store = new RunStore();
    const start = applyEvents(initialRunView('r'), [
      { seq: 1, type: 'run.started', run: 'r', step: null, node: null, status: 'running', data: { input: {} }, ts: 1 },
    ] as RunEvent[]);
    store.update(start, research);
    const { nodes, edges } = graphToFlow(research);
    const value: CanvasInfo = { catalogue, nodeIssues: new Map(), edgeIssues: new Map(), run: store, readOnly: true };
    render(
      <ReactFlowProvider>
        <CanvasContext.Provider value={value}>
          <div style={{ width: 1200, height: 800 }}>
            <Canvas nodes={nodes} edges={edges} />
          </div>
        </CanvasContext.Provider>
      </ReactFlowProvider>,
    );
    expect(screen.getByTestId('node-plan').getAttribute('data-status')).toBe('pending');
    const next = applyEvents(start, [
      { seq: 2, type: 'step.started', run: 'r', step: 'plan', node: 'plan', status: 'running', data: { attempt: 1, input: null, parent: null, round: 0 }, ts: 2 },
    ] as RunEvent[]);
    act(() => store.update(next, research));
    expect(screen.getByTestId('node-plan').getAttribute('data-status')).toBe('running');
    expect(screen.getByTestId('node-brief').getAttribute('data-status')).toBe('pending');
  });

  it('draws cards with their title and status only when zoomed out below 0.5', () => {
    const { nodes, edges } = graphToFlow(research);
    const value: CanvasInfo = { catalogue, nodeIssues: new Map(), edgeIssues: new Map(), run: null, readOnly: true };
    const view = (zoom: number) => (
      <ReactFlowProvider>
        <CanvasContext.Provider value={value}>
          <div style={{ width: 1200, height: 800 }}>
            <Canvas nodes={nodes} edges={edges} overlay={<ZoomTo zoom={zoom} />} />
          </div>
        </CanvasContext.Provider>
      </ReactFlowProvider>
    );
    const { rerender } = render(view(1));
    const router = () => screen.getByTestId('node-size');
    expect(router().className).not.toContain('low-detail');
    expect(router().querySelector('.node-type')?.textContent).toBe('Router');
    expect(router().querySelectorAll('.handle-label')).toHaveLength(2);

    rerender(view(0.3));
    expect(router().className).toContain('low-detail');
    expect(router().querySelector('.node-label')?.textContent).toBe('Long enough?');
    expect(router().querySelector('.node-type')).toBeNull();
    expect(router().querySelectorAll('.handle-label')).toHaveLength(0);
    // the handles stay: edges end at them
    expect(router().querySelectorAll('.react-flow__handle.source')).toHaveLength(2);
  });
});
