// The re-run dialog against a fake server: the preview comes first and Start follows it; an
// edited output is checked as JSON as it is typed, the server's schema problems show under it,
// and nothing typed is lost when the server refuses.

import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import type { RerunPreview } from '../api/timeTravel';
import { fakeServer, json, type FakeRequest } from '../test/fakeServer';
import { RerunDialog, type RerunTarget } from './RerunDialog';

const PREVIEW: RerunPreview = {
  mode: 'from',
  version: 2,
  nodes: [
    { node: 'brief', verdict: 'reuse' },
    { node: 'research', verdict: 'reuse' },
    { node: 'draft', verdict: 'execute' },
    { node: 'out', verdict: 'execute' },
  ],
  execute: 2,
  reuse: 2,
  skip: 0,
  estimated_cost: 0.03,
  reused_cost: 0,
  not_estimated: [],
};

let answer: (request: FakeRequest) => Response = () => json(PREVIEW);
const calls = fakeServer((request) => answer(request));

const labels: Record<string, string> = { brief: 'Brief', research: 'Research', draft: 'Draft', out: 'Result' };

function open(target: RerunTarget, over: { runVersion?: number; currentVersion?: number } = {}) {
  const onStarted = vi.fn();
  const onPlan = vi.fn();
  render(
    <RerunDialog
      runId="run-1"
      target={target}
      labelOf={(id) => labels[id] ?? id}
      runVersion={over.runVersion ?? 2}
      currentVersion={over.currentVersion ?? 2}
      onClose={() => undefined}
      onPlan={onPlan}
      onStarted={onStarted}
    />,
  );
  return { onStarted, onPlan };
}

const textarea = () => screen.getByTestId('rerun-output') as HTMLTextAreaElement;

describe('the re-run dialog', () => {
  it('previews a re-run from a step, marks the plan, and starts it when confirmed', async () => {
    answer = ({ url }) => (url.endsWith('/preview/') ? json(PREVIEW) : json({ id: 'run-2', status: 'running' }, 201));
    const { onStarted, onPlan } = open({ mode: 'from', step: 'draft', node: 'draft', output: 'a draft' });
    expect(screen.getByText('Re-run from here: Draft')).toBeTruthy();
    await waitFor(() =>
      expect(screen.getByTestId('rerun-preview-text').textContent).toBe('This re-executes 2 steps (about $0.03 at catalogue prices) and reuses 2.'),
    );
    expect(screen.getByTestId('rerun-plan-draft').dataset.verdict).toBe('execute');
    expect(screen.getByTestId('rerun-plan-research').textContent).toContain('Research');
    // the canvas hears of the plan in an effect after the preview renders: wait for it too
    await waitFor(() => expect(onPlan).toHaveBeenLastCalledWith(new Map(PREVIEW.nodes.map((n) => [n.node, n.verdict]))));
    // a preview starts nothing; Start sends the same request to the step's address
    expect(calls).toEqual([{ method: 'POST', url: '/api/runs/run-1/steps/draft/rerun/preview/', body: { version: 'run' } }]);
    fireEvent.click(screen.getByTestId('rerun-confirm'));
    await waitFor(() => expect(onStarted).toHaveBeenCalledWith({ id: 'run-2', status: 'running' }));
    expect(calls[1]).toEqual({ method: 'POST', url: '/api/runs/run-1/steps/draft/rerun/', body: { version: 'run' } });
  });

  it('checks an edited output as JSON before asking the server anything', async () => {
    answer = () => json({ ...PREVIEW, mode: 'edit', execute: 1, reuse: 3 });
    open({ mode: 'edit', step: 'research', node: 'research', output: { facts: ['owls fly'] } });
    expect(textarea().value).toBe('{\n  "facts": [\n    "owls fly"\n  ]\n}');
    await waitFor(() => expect(screen.getByTestId('rerun-preview-text').textContent).toMatch(/^This re-executes 1 step /));
    fireEvent.change(textarea(), { target: { value: '{"facts": ["owls fly",' } });
    expect(screen.getByTestId('rerun-output-error').textContent).toMatch(/^Not valid JSON: /);
    expect((screen.getByTestId('rerun-confirm') as HTMLButtonElement).disabled).toBe(true);
    expect(screen.queryByTestId('rerun-preview-text')).toBeNull();
    // fixed: previewed again with the edited output
    fireEvent.change(textarea(), { target: { value: '{"facts": ["owls fly", "owls hoot"]}' } });
    expect(screen.queryByTestId('rerun-output-error')).toBeNull();
    await waitFor(() => expect(calls.length).toBe(2));
    expect(calls[1]).toEqual({
      method: 'POST',
      url: '/api/runs/run-1/steps/research/rerun/preview/',
      body: { output: { facts: ['owls fly', 'owls hoot'] }, version: 'run' },
    });
  });

  it('shows the server’s schema problems under the output and keeps what was typed', async () => {
    answer = () =>
      json(
        {
          error: {
            code: 'invalid_output',
            message: "the edited output does not match node 'research''s output schema: facts: 'x' is not of type 'array'",
            fields: { output: ["facts: 'x' is not of type 'array'"] },
          },
        },
        409,
      );
    open({ mode: 'edit', step: 'research', node: 'research', output: { facts: [] } });
    fireEvent.change(textarea(), { target: { value: '{"facts": "x"}' } });
    await waitFor(() => expect(screen.getByTestId('rerun-output-error').textContent).toContain("is not of type 'array'"));
    expect(textarea().value).toBe('{"facts": "x"}');
    expect((screen.getByTestId('rerun-confirm') as HTMLButtonElement).disabled).toBe(true);
  });

  it('edits a text output as text, and can switch to JSON', async () => {
    open({ mode: 'edit', step: 'draft', node: 'draft', output: 'Owls are quiet.' });
    expect(textarea().value).toBe('Owls are quiet.');
    fireEvent.change(textarea(), { target: { value: 'Owls are very quiet.' } });
    await waitFor(() => expect(calls.length).toBeGreaterThan(0));
    await waitFor(() => expect(calls[calls.length - 1].body).toEqual({ output: 'Owls are very quiet.', version: 'run' }));
    fireEvent.click(screen.getByRole('button', { name: 'JSON' }));
    expect(textarea().value).toBe('"Owls are very quiet."');
  });

  it('retries on the run’s version or the current one, and says why it cannot start', async () => {
    answer = ({ url }) =>
      url.endsWith('/preview/')
        ? json({ ...PREVIEW, mode: 'retry', version: 3 })
        : json({ error: { code: 'not_rerunnable', message: "node 'draft' no longer exists in version 3" } }, 409);
    open({ mode: 'retry' }, { runVersion: 2, currentVersion: 3 });
    expect(screen.getByText('Retry the run')).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId('rerun-preview-text')).toBeTruthy());
    expect(calls[0]).toEqual({ method: 'POST', url: '/api/runs/run-1/rerun/preview/', body: { version: 'run' } });
    fireEvent.click(screen.getByTestId('rerun-version-current'));
    await waitFor(() => expect(calls[calls.length - 1].body).toEqual({ version: 'current' }));
    await waitFor(() => expect(screen.getByText('Runs on version 3.')).toBeTruthy());
    fireEvent.click(screen.getByTestId('rerun-confirm'));
    await waitFor(() => expect(screen.getByTestId('rerun-error').textContent).toBe("node 'draft' no longer exists in version 3"));
    expect(calls[calls.length - 1]).toEqual({ method: 'POST', url: '/api/runs/run-1/rerun/', body: { version: 'current' } });
  });
});
