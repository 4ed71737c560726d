// The run's lineage in the run panel (where it came from, its re-runs, Retry) and a step's time
// travel (where a reused output came from, Re-run from here and Edit output).

import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import type { RunDetail } from '../api/resources';
import { initialRunView, type StepView } from './reducer';
import { RunLineage, StepTimeTravel } from './RunLineage';

const runPath = (run: string, step?: string | null) => `/workflows/wf/runs/${run}${step ? `?step=${step}` : ''}`;
const labelOf = (id: string) => ({ draft: 'Draft', research: 'Research' })[id] ?? id;

function step(over: Partial<StepView>): StepView {
  return { ...initialRunView().steps, id: 'draft', node: 'draft', parent: null, status: 'succeeded', reusedFrom: null, ...over } as StepView;
}

describe('the run’s lineage', () => {
  it('links a re-run to its source run and step, and to the comparison with it', () => {
    const view = { ...initialRunView('run-2bbbbbbb'), source: { run: 'run-1aaaaaaa', step: 'draft', mode: 'from' } };
    render(<RunLineage workflowId="wf" view={view} detail={null} runPath={runPath} labelOf={labelOf} />);
    expect(screen.getByTestId('run-source').textContent).toBe('↺ Re-run of run run-1aaa from step Draft. Compare with source run');
    expect(screen.getByTestId('run-source-link').getAttribute('href')).toBe('/workflows/wf/runs/run-1aaaaaaa?step=draft');
    expect(screen.getByTestId('compare-source').getAttribute('href')).toBe('/workflows/wf/compare?a=run-1aaaaaaa&b=run-2bbbbbbb');
  });

  it('lists the runs made from this one, and offers Retry on a failed run', () => {
    const onRetry = vi.fn();
    const detail = { reruns: [{ id: 'run-3ccccccc', status: 'succeeded', step: null, mode: 'retry' }] } as unknown as RunDetail;
    render(<RunLineage workflowId="wf" view={initialRunView('run-1')} detail={detail} runPath={runPath} labelOf={labelOf} onRetry={onRetry} />);
    expect(screen.getByTestId('run-reruns').textContent).toContain('run-3ccc retry');
    expect(screen.getByTestId('rerun-link-run-3ccccccc').getAttribute('href')).toBe('/workflows/wf/runs/run-3ccccccc');
    fireEvent.click(screen.getByTestId('retry-run'));
    expect(onRetry).toHaveBeenCalled();
  });

  it('says nothing for a run made afresh that cannot be retried', () => {
    const { container } = render(<RunLineage workflowId="wf" view={initialRunView('run-1')} detail={null} runPath={runPath} labelOf={labelOf} />);
    expect(container.textContent).toBe('');
  });
});

describe('a step’s time travel', () => {
  it('says where a reused output came from, what it cost there, and links to it', () => {
    const reused = step({ status: 'reused', reusedFrom: { kind: 'recorded', run: 'run-1aaaaaaa', step: 'research', cost: 0.006 } });
    render(<StepTimeTravel step={reused} depth={0} runPath={runPath} />);
    expect(screen.getByTestId('step-reused-from').textContent).toBe(
      'reused Taken from run run-1aaa · step research; it cost $0.006 there, nothing here, and took no time.',
    );
    expect(screen.getByTestId('step-reused-link').getAttribute('href')).toBe('/workflows/wf/runs/run-1aaaaaaa?step=research');
  });

  it('offers Re-run from here and Edit output on a top-level step and on a delegated task', () => {
    const onRerun = vi.fn();
    const { rerender } = render(<StepTimeTravel step={step({})} depth={0} runPath={runPath} onRerun={onRerun} />);
    fireEvent.click(screen.getByTestId('step-rerun-from'));
    expect(onRerun).toHaveBeenLastCalledWith('from', 'draft');
    const task = step({ id: 'lead.res.1', node: 'res', parent: 'lead' });
    rerender(<StepTimeTravel step={task} depth={1} runPath={runPath} onRerun={onRerun} />);
    fireEvent.click(screen.getByTestId('step-edit-output'));
    expect(onRerun).toHaveBeenLastCalledWith('edit', 'lead.res.1');
    // a task of a task, a failed step's output, or no right to run: not offered
    rerender(<StepTimeTravel step={task} depth={2} runPath={runPath} onRerun={onRerun} />);
    expect(screen.queryByTestId('step-rerun-from')).toBeNull();
    rerender(<StepTimeTravel step={step({ status: 'failed' })} depth={0} runPath={runPath} onRerun={onRerun} />);
    expect(screen.getByTestId('step-rerun-from')).toBeTruthy();
    expect(screen.queryByTestId('step-edit-output')).toBeNull();
    rerender(<StepTimeTravel step={step({})} depth={0} runPath={runPath} />);
    expect(screen.queryByTestId('step-rerun-from')).toBeNull();
  });
});
