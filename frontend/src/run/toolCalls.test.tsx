import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { RunEvent, ToolCallData } from '../api/events';
import type { RunDetail } from '../api/resources';
import { applyEvents, fromSnapshot, initialRunView } from './reducer';
import { ToolCalls, toolCallSummary } from './ToolCalls';

function events(calls: Partial<ToolCallData>[]): RunEvent[] {
  const base = [
    { type: 'run.started', step: null, data: { input: {} }, status: 'running' },
    { type: 'step.started', step: 'agent', data: { attempt: 1, input: null, parent: null, round: 0 }, status: 'running' },
    ...calls.map((data) => ({ type: 'step.tool_call', step: 'agent', data, status: 'running' })),
  ];
  return base.map((e, i) => ({ ...e, seq: i + 1, run: 'r', node: e.step, ts: 1000 + i })) as unknown as RunEvent[];
}

const running = { id: 'c1', tool: 'add', ref: 'mcp:py/add', kind: 'mcp', status: 'running', arguments: { a: 1, b: 2 } } as const;

describe('tool calls in the run view', () => {
  it('keeps each call once, as last heard, and the node counts them', () => {
    const done = { ...running, status: 'succeeded', result: '3.0', duration_ms: 12 } as const;
    const failed = { id: 'c2', tool: 'slow', ref: 'mcp:py/slow', kind: 'mcp', status: 'failed', arguments: {}, error: 'no answer within 1s', duration_ms: 1000 } as const;
    const view = applyEvents(initialRunView('r'), events([running, done, failed]));
    const calls = view.steps.agent.toolCalls;
    expect(calls.map((c) => [c.id, c.status])).toEqual([
      ['c1', 'succeeded'],
      ['c2', 'failed'],
    ]);
    expect(view.nodes.agent.toolCalls).toHaveLength(2);
    expect(toolCallSummary(calls)).toEqual({ total: 2, failed: 1, running: 0 });
  });

  it('reads the calls a snapshot holds, and a later event ends the one still running', () => {
    // A page opened after the call began: its start is in the snapshot (and below its last seq),
    // so only the end comes live.
    const detail = {
      id: 'r',
      status: 'running',
      last_seq: 3,
      steps: [
        { id: 'agent', node: 'agent', type: 'worker', status: 'running', parent: null, input: null, output: null, branch: null, error: null, attempt: 1, model: null, tokens_in: 0, tokens_out: 0, cost: 0, started_at: 1000, finished_at: null, duration_ms: null, tool_calls: [running] },
      ],
    } as unknown as RunDetail;
    const snapshot = fromSnapshot(detail);
    expect(snapshot.steps.agent.toolCalls.map((c) => [c.id, c.status])).toEqual([['c1', 'running']]);
    expect(snapshot.nodes.agent.toolCalls).toHaveLength(1);
    const end = { ...events([{ ...running, status: 'succeeded', result: '3.0' }])[2], seq: 4 } as RunEvent;
    const view = applyEvents(snapshot, [end]);
    expect(view.steps.agent.toolCalls.map((c) => [c.id, c.status, c.result])).toEqual([['c1', 'succeeded', '3.0']]);
  });

  it('shows the arguments, the result or error and the duration', () => {
    const calls: ToolCallData[] = [
      { ...running, status: 'succeeded', result: '3.0', duration_ms: 12 },
      { id: 'c2', tool: 'slow', ref: 'mcp:py/slow', kind: 'mcp', status: 'failed', arguments: { seconds: 9 }, error: 'no answer within 1s' },
    ];
    render(<ToolCalls calls={calls} />);
    expect(screen.getByTestId('tool-call-args-add').textContent).toContain('"a": 1');
    expect(screen.getByTestId('tool-call-result-add').textContent).toBe('3.0');
    expect(screen.getByTestId('tool-call-error-slow').textContent).toBe('no answer within 1s');
    expect(screen.getByTestId('tool-call-status-slow').textContent).toBe('failed');
  });
});
