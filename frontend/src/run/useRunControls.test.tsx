import { act, renderHook } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import type { Graph } from '../api/graph';
import { fakeServer, json } from '../test/fakeServer';
import { catalogue, team } from '../test/fixtures';
import { initialRunView } from './reducer';
import { useRunControls, type RunControlsInput } from './useRunControls';
import type { LiveRun } from './useRunView';

const calls = fakeServer(({ url }) => {
  if (url === '/api/workflows/wf/runs/') return json({ id: 'run-7', status: 'queued' }, 201);
  return json({ error: { code: 'not_found', message: url } }, 404);
});

const live = { view: initialRunView(), detail: null, loading: false, error: null, connection: 'open', reload: () => undefined, graph: null } as unknown as LiveRun;
const WITH_FIELDS: Graph = {
  ...team,
  nodes: team.nodes.map((n) => (n.type === 'input' ? { ...n, config: { fields: { type: 'object', properties: { topic: { type: 'string' } } } } } : n)),
};

function mount(over: Partial<RunControlsInput> = {}) {
  const input: RunControlsInput = { workflowId: 'wf', runId: null, live, runGraph: team, catalogue, graph: WITH_FIELDS, dirty: false, save: vi.fn(async () => true), ...over };
  return { input, result: renderHook(() => useRunControls(input)).result };
}

describe('the run controls', () => {
  it('asks for the input node’s fields', () => {
    expect(mount().result.current.inputSchema).toEqual({ type: 'object', properties: { topic: { type: 'string' } } });
    expect(mount({ graph: team }).result.current.inputSchema).toBeNull();
  });

  it('saves unsaved changes first, then starts the run and shows it', async () => {
    const { input, result } = mount({ dirty: true });
    act(() => result.current.openDialog());
    await act(() => result.current.startRun({ topic: 'owls' }));
    expect(input.save).toHaveBeenCalledTimes(1);
    expect(calls).toEqual([{ method: 'POST', url: '/api/workflows/wf/runs/', body: { input: { topic: 'owls' }, version: 'latest' } }]);
    expect(result.current.dialogOpen).toBe(false);
    expect(window.location.pathname).toBe('/workflows/wf/runs/run-7');
  });

  it('starts no run when the save before it fails', async () => {
    const { result } = mount({ dirty: true, save: vi.fn(async () => false) });
    await expect(result.current.startRun({})).rejects.toThrow('Save failed; the run was not started.');
    expect(calls).toEqual([]);
  });

  it('shows a selected step in the step tab', () => {
    const { result } = mount();
    expect(result.current.tab).toBe('output');
    act(() => result.current.selectStep('lead'));
    expect(result.current).toMatchObject({ selectedStep: 'lead', tab: 'step' });
  });
});
