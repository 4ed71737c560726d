// A run reaching an approval gate: the reducer, the canvas's Decide button, the timeline's decisions.

import { ReactFlowProvider } from '@xyflow/react';
import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { approvalIdOf, approvalRequestOf } from '../api/approvals';
import type { EventDataByType, EventType, RunEvent } from '../api/events';
import type { RunDetail } from '../api/resources';
import { Canvas } from '../editor/Canvas';
import { CanvasContext, type CanvasInfo } from '../editor/canvasContext';
import { graphToFlow } from '../graph/convert';
import { runStoreOf } from '../run/liveStore';
import { RunPanel } from '../run/RunPanel';
import { applyEvents, fromSnapshot, initialRunView, nodeStatus } from '../run/reducer';
import { approvalFixture, catalogue, team } from '../test/fixtures';
import { gateStepsKey } from './useRunApprovals';

function script() {
  const events: RunEvent[] = [];
  const add = <T extends EventType>(type: T, step: string | null, data: EventDataByType[T], status: string | null, node: string | null = step) => {
    events.push({ seq: events.length + 1, type, run: 'run-1', step, node, status, data, ts: 1000 + events.length } as RunEvent);
  };
  return { events, add };
}

const request = {
  kind: 'approval',
  prompt: 'Publish “Bees”?',
  data: { title: 'Bees' },
  editable: true,
  approvers: ['alice', 'bob'],
  role: null,
  quorum: 2,
  deadline_seconds: 3600,
};

function toGate() {
  const { events, add } = script();
  add('run.started', null, { input: {} }, 'running');
  add('step.started', 'gate', { attempt: 1, input: { title: 'Bees' }, parent: null, round: 0 }, 'running');
  add('step.waiting', 'gate', { request }, 'waiting');
  add('run.waiting', null, { steps: ['gate'] }, 'waiting');
  return { events, add };
}

describe('run reducer: an approval gate', () => {
  it('puts the step, the node and the run in waiting, with the approval request', () => {
    const view = applyEvents(initialRunView('run-1'), toGate().events);
    expect(view.status).toBe('waiting');
    expect(view.steps.gate.status).toBe('waiting');
    expect(nodeStatus(view, 'gate')).toBe('waiting');
    const req = approvalRequestOf(view.steps.gate.request);
    expect(req).toMatchObject({ kind: 'approval', quorum: 2, editable: true });
    expect(approvalIdOf(req)).toBeNull();
    expect(approvalIdOf({ ...req!, approval: 'ap-7' })).toBe('ap-7');
    expect(approvalRequestOf({ kind: 'input' })).toBeNull();
  });

  it('resumes and takes the approved branch after a decision', () => {
    const { events, add } = toGate();
    const waiting = applyEvents(initialRunView('run-1'), events);
    add('step.resumed', 'gate', { round: 1 }, 'running');
    add('step.succeeded', 'gate', { output: { title: 'Wasps' }, branch: 'approved', attempt: 1, model: null, tokens_in: 0, tokens_out: 0, cost: 0, duration_ms: null }, 'succeeded');
    const resumed = applyEvents(waiting, events.slice(-2));
    expect(resumed.status).toBe('running');
    expect(resumed.steps.gate.request).toBeNull();
    expect(resumed.steps.gate.status).toBe('succeeded');
    expect(resumed.steps.gate.branch).toBe('approved');
    // the refetch key of the gate's approval changes at each of these moments
    const gates = new Set(['gate']);
    expect(gateStepsKey(waiting, gates)).toBe('gate:waiting');
    expect(gateStepsKey(resumed, gates)).toBe('gate:succeeded');
    expect(gateStepsKey(waiting, new Set())).toBe('gate:waiting'); // found by its request too
  });

  it('keeps a waiting step from the snapshot, with its request when the API sends one', () => {
    const detail = {
      id: 'run-1',
      status: 'waiting',
      input: {},
      output: null,
      error: null,
      totals: { tokens_in: 0, tokens_out: 0, cost: 0, by_model: {} },
      last_seq: 4,
      steps: [
        { id: 'gate', node: 'gate', type: 'approval', status: 'waiting', parent: null, input: null, output: null, branch: null, error: null, attempt: 1, model: null, tokens_in: 0, tokens_out: 0, cost: 0, started_at: 1001, finished_at: null, duration_ms: null, request },
      ],
    } as unknown as RunDetail;
    const view = fromSnapshot(detail);
    expect(nodeStatus(view, 'gate')).toBe('waiting');
    expect(approvalRequestOf(view.steps.gate.request)?.prompt).toBe('Publish “Bees”?');
  });
});

function renderCanvas(info: Partial<CanvasInfo>) {
  const { nodes, edges } = graphToFlow(team);
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

describe('the approval node on the canvas', () => {
  it('looks human and labels its two branches', () => {
    renderCanvas({});
    const gate = screen.getByTestId('node-gate');
    expect(gate.className).toContain('cat-human');
    expect(gate.className).toContain('node-human');
    const labels = Array.from(gate.querySelectorAll('.handle-label')).map((l) => l.textContent);
    expect(labels).toEqual(['approved', 'rejected']);
    expect(screen.queryByTestId('decide-gate')).toBeNull();
  });

  it('shows a waiting badge and a Decide button while it waits', () => {
    const onDecide = vi.fn();
    const view = applyEvents(initialRunView('run-1'), toGate().events);
    renderCanvas({ run: runStoreOf(view, team), onDecide });
    expect(screen.getByTestId('node-approval-gate').textContent).toContain('Waiting for approval');
    fireEvent.click(screen.getByTestId('decide-gate'));
    expect(onDecide).toHaveBeenCalledWith('gate', 'gate');
    expect(screen.queryByTestId('decide-lead')).toBeNull();
  });
});

describe('the run timeline with an approval', () => {
  it('shows who decided what', () => {
    const { events, add } = toGate();
    add('step.resumed', 'gate', { round: 1 }, 'running');
    add('step.succeeded', 'gate', { output: {}, branch: 'rejected', attempt: 1, model: null, tokens_in: 0, tokens_out: 0, cost: 0, duration_ms: null }, 'succeeded');
    const view = applyEvents(initialRunView('run-1'), events);
    const approval = approvalFixture({
      status: 'rejected',
      decisions: [
        { user: 'alice', decision: 'approve', comment: '', created_at: '2026-11-24T10:00:00Z' },
        { user: 'bob', decision: 'reject', comment: 'not yet', created_at: '2026-11-24T10:02:00Z' },
      ],
    });
    render(
      <RunPanel
        view={view}
        tab="timeline"
        onTab={() => undefined}
        selectedStep={null}
        onSelectStep={() => undefined}
        labelOf={(id) => id}
        connection={{ state: 'open', attempt: 0 }}
        approvals={{ gate: approval }}
      />,
    );
    const text = screen.getByTestId('timeline-decisions-gate').textContent ?? '';
    expect(text).toContain('alice approved');
    expect(text).toContain('bob rejected');
    expect(text).toContain('not yet');
  });

  it('offers Decide from the output tab while the run waits', () => {
    const onDecide = vi.fn();
    const view = applyEvents(initialRunView('run-1'), toGate().events);
    render(
      <RunPanel
        view={view}
        tab="output"
        onTab={() => undefined}
        selectedStep={null}
        onSelectStep={() => undefined}
        labelOf={(id) => id}
        connection={{ state: 'open', attempt: 0 }}
        onDecide={onDecide}
      />,
    );
    fireEvent.click(screen.getByTestId('run-decide-gate'));
    expect(onDecide).toHaveBeenCalledWith('gate');
  });
});
