// A map and a loop in the run view: the map's card shows "done / total · failed" with a bar and no
// badge per item, the loop's card its iteration and limit; the run panel lists the items a page
// at a time (a map of 3,000 items draws 50 rows), filters them, and opens the one picked; the
// timeline shows the items as one row; the body's card takes its delegate edge at the top.

import { ReactFlowProvider } from '@xyflow/react';
import { fireEvent, render, screen, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import type { EventDataByType, EventType, RunEvent } from '../api/events';
import type { Graph } from '../api/graph';
import { Canvas } from '../editor/Canvas';
import { CanvasContext, type CanvasInfo } from '../editor/canvasContext';
import { graphToFlow } from '../graph/convert';
import { catalogue } from '../test/fixtures';
import { ITEMS_PAGE } from './ChildSteps';
import { runStoreOf } from './liveStore';
import { applyEvents, initialRunView, type RunView } from './reducer';
import { RunPanel, type RanNode, type RunTab } from './RunPanel';

const flow: Graph = {
  nodes: [
    { id: 'brief', type: 'input', label: 'Leads', position: { x: 0, y: 0 }, config: {} },
    { id: 'each', type: 'map', label: 'Each lead', position: { x: 260, y: 0 }, config: { items: 'input.leads', concurrency: 4 } },
    { id: 'score', type: 'transform', label: 'Score', position: { x: 260, y: 200 }, config: { template: '{{ upstream }}' } },
    { id: 'again', type: 'loop', label: 'Polish', position: { x: 520, y: 0 }, config: { until: 'false', max_iterations: 10 } },
    { id: 'edit', type: 'transform', label: 'Edit', position: { x: 520, y: 200 }, config: { template: '{{ upstream }}!' } },
    { id: 'out', type: 'output', label: 'Result', position: { x: 780, y: 0 }, config: {} },
  ],
  edges: [
    { id: 'e1', source: 'brief', target: 'each' },
    { id: 'd1', source: 'each', target: 'score', kind: 'delegate' },
    { id: 'e2', source: 'each', target: 'again' },
    { id: 'd2', source: 'again', target: 'edit', kind: 'delegate' },
    { id: 'e3', source: 'again', target: 'out' },
  ],
};

function script() {
  const events: RunEvent[] = [];
  const add = <T extends EventType>(type: T, step: string | null, data: EventDataByType[T], status: string | null, node: string | null) => {
    events.push({ seq: events.length + 1, type, run: 'r', step, node, status, data, ts: 1000 + events.length } as RunEvent);
  };
  return { events, add };
}

const ok = (output: unknown) => ({ output, branch: 'out', attempt: 1, model: null, tokens_in: 0, tokens_out: 0, cost: 0.002, duration_ms: 30 });

/** A map of `count` items (concurrency 4) of which the first `finished` are done, every 10th failed. */
function mapRun(count: number, finished: number): RunView {
  const { events, add } = script();
  add('run.started', null, { input: {} }, 'running', null);
  add('step.started', 'each', { attempt: 1, input: [], parent: null, round: 0 }, 'running', 'each');
  const key = (n: number) => `each.score.${n}`;
  for (let n = 1; n <= 4; n++) add('step.queued', key(n), { parent: 'each' }, 'queued', 'score');
  add('step.delegated', 'each', { round: 0, tasks: Array.from({ length: Math.min(count, 1000) }, (_, i) => ({ step: key(i + 1), node: 'score' })), count, state: null }, 'waiting', 'each');
  for (let n = 1; n <= finished; n++) {
    add('step.started', key(n), { attempt: 1, input: { lead: `Lead ${n}` }, parent: 'each', round: 0 }, 'running', 'score');
    if (n % 10 === 0) add('step.failed', key(n), { error: { message: `no score for lead ${n}` }, attempt: 1 }, 'failed', 'score');
    else add('step.succeeded', key(n), ok(`score ${n}`), 'succeeded', 'score');
    if (n + 4 <= count) add('step.queued', key(n + 4), { parent: 'each' }, 'queued', 'score');
  }
  return applyEvents(initialRunView('r'), events);
}

function loopRun(iterations: number): RunView {
  const { events, add } = script();
  add('run.started', null, { input: {} }, 'running', null);
  add('step.started', 'again', { attempt: 1, input: 'a', parent: null, round: 0 }, 'running', 'again');
  for (let n = 1; n <= iterations; n++) {
    add('step.queued', `again.edit.${n}`, { parent: 'again' }, 'queued', 'edit');
    add('step.delegated', 'again', { round: n - 1, tasks: [{ step: `again.edit.${n}`, node: 'edit' }], count: 1, state: { iteration: n } }, 'waiting', 'again');
    add('step.started', `again.edit.${n}`, { attempt: 1, input: 'a', parent: 'again', round: 0 }, 'running', 'edit');
    if (n < iterations) {
      add('step.succeeded', `again.edit.${n}`, ok('a!'), 'succeeded', 'edit');
      add('step.resumed', 'again', { round: n }, 'queued', 'again');
    }
  }
  return applyEvents(initialRunView('r'), events);
}

function renderCanvas(info: Partial<CanvasInfo>) {
  const { nodes, edges } = graphToFlow(flow);
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

const ran = new Map<string, RanNode>(flow.nodes.map((n) => [n.id, { type: n.type, config: n.config }]));

function renderPanel(view: RunView, selected: string | null, tab: RunTab = 'step') {
  const onSelectStep = vi.fn();
  const utils = render(
    <RunPanel
      view={view}
      tab={tab}
      onTab={() => undefined}
      selectedStep={selected}
      onSelectStep={onSelectStep}
      labelOf={(id) => flow.nodes.find((n) => n.id === id)?.label ?? id}
      connection={{ state: 'open', attempt: 0 }}
      nodeOf={(id) => ran.get(id)}
    />,
  );
  return { ...utils, onSelectStep };
}

describe('a map and a loop on the canvas', () => {
  it('shows a map’s progress with its failures, and no badge per item', () => {
    const view = mapRun(100, 37);
    const onSelectStep = vi.fn();
    renderCanvas({ run: runStoreOf(view, flow), onSelectStep });
    expect(screen.getByTestId('node-progress-text-each').textContent).toBe('37 / 100 · 3 failed');
    expect(screen.getByTestId('node-progress-each').getAttribute('data-total')).toBe('100');
    expect(screen.queryByTestId('child-each.score.1')).toBeNull();
    // the body's card sums up its items; the map's card opens the item list
    expect(screen.getByTestId('node-score').getAttribute('data-status')).toBe('queued');
    fireEvent.click(screen.getByTestId('node-items-each'));
    expect(onSelectStep).toHaveBeenCalledWith('each');
  });

  it('shows a loop’s iteration and limit, and its iterations as numbered badges', () => {
    renderCanvas({ run: runStoreOf(loopRun(3), flow) });
    expect(screen.getByTestId('node-progress-text-again').textContent).toBe('iteration 3 / at most 10');
    expect(screen.getByTestId('child-again.edit.1').textContent).toBe('#1');
    expect(screen.getByTestId('child-again.edit.3').getAttribute('data-status')).toBe('running');
  });

  it('caps a card’s badges and counts the rest', () => {
    renderCanvas({ run: runStoreOf(loopRun(15), flow) });
    expect(screen.getAllByTestId(/^child-again\.edit\./)).toHaveLength(12);
    expect(screen.getByTestId('child-more').textContent).toBe('+3 more');
  });

  it('draws a body’s delegate edge into a task handle at its top, labelled as a body', () => {
    renderCanvas({});
    expect(screen.getByTestId('node-each').textContent).toContain('each of input.leads · 4 at a time');
    expect(screen.getByTestId('node-again').textContent).toContain('until false · at most 10');
    const score = screen.getByTestId('node-score');
    expect(score.querySelector('.react-flow__handle.target[data-handleid="@task"]')).not.toBeNull();
    expect(screen.getByTestId('node-out').querySelector('[data-handleid="@task"]')).toBeNull();
    expect(screen.getByTestId('node-each').querySelector('.handle-delegate')?.textContent).toBe('body');
  });
});

describe('a map’s items in the run panel', () => {
  it('lists a page of items with status, input, output and error, and opens the one clicked', () => {
    const view = mapRun(3000, 120);
    const { onSelectStep } = renderPanel(view, 'each');
    expect(screen.getByTestId('step-children-progress').textContent).toBe('120 / 3,000 · 12 failed');
    const list = screen.getByTestId('step-children-list');
    expect(within(list).getAllByRole('button')).toHaveLength(ITEMS_PAGE);
    expect(screen.getByTestId('item-each.score.1').getAttribute('data-status')).toBe('succeeded');
    expect(screen.getByTestId('item-input-each.score.1').textContent).toContain('{"lead":"Lead 1"}');
    expect(screen.getByTestId('item-output-each.score.1').textContent).toContain('score 1');
    expect(screen.getByTestId('item-error-each.score.10').textContent).toBe('no score for lead 10');
    expect(screen.getByTestId('step-children-unlisted').textContent).toContain('2,000 more not started yet');
    fireEvent.click(screen.getByTestId('item-each.score.3'));
    expect(onSelectStep).toHaveBeenCalledWith('each.score.3');

    fireEvent.click(screen.getByTestId('step-children-more'));
    expect(within(list).getAllByRole('button')).toHaveLength(ITEMS_PAGE * 5);

    fireEvent.click(screen.getByTestId('items-filter-failed'));
    const failed = within(screen.getByTestId('step-children-list')).getAllByRole('button');
    expect(failed).toHaveLength(12);
    expect(failed.every((row) => row.getAttribute('data-status') === 'failed')).toBe(true);
    expect(screen.getByTestId('items-filter-pending').textContent).toBe('Not started 2,880');
  });

  it('says which item of which map a child step is, and goes back to the map', () => {
    const { onSelectStep } = renderPanel(mapRun(20, 5), 'each.score.4');
    expect(screen.getByTestId('step-item-number').textContent).toContain('item 4 of 20');
    fireEvent.click(screen.getByTestId('step-parent'));
    expect(onSelectStep).toHaveBeenCalledWith('each');
  });

  it('shows a map’s items as one row of the timeline', () => {
    const view = mapRun(500, 300);
    renderPanel(view, null, 'timeline');
    expect(screen.queryByTestId('timeline-each.score.1')).toBeNull();
    expect(screen.getByTestId('timeline-items-each').textContent).toContain('Items: 300 / 500 · 30 failed');
  });

  it('lists a loop’s iterations in the timeline and in its step', () => {
    const view = loopRun(3);
    renderPanel(view, null, 'timeline');
    expect(screen.getByTestId('timeline-again.edit.2')).toBeTruthy();
  });
});
