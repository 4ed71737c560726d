import { ReactFlowProvider } from '@xyflow/react';
import { act, fireEvent, render, renderHook, screen, within } from '@testing-library/react';
import type { ReactNode } from 'react';
import { describe, expect, it, vi } from 'vitest';
import type { Graph } from '../api/graph';
import type { VersionComparison } from '../api/versionCompare';
import { ToastProvider } from '../components/toast';
import { catalogue } from '../test/fixtures';
import { fakeServer, json } from '../test/fakeServer';
import { Canvas } from './Canvas';
import { CanvasContext, type CanvasInfo } from './canvasContext';
import { useVersions } from './useVersions';
import { VersionComparePanel } from './VersionComparePanel';
import { VersionsPanel } from './VersionsPanel';
import { comparisonFlow, diffMarks, formatSetting, type ComparisonView } from './versionCompare';

const BEFORE: Graph = {
  nodes: [
    { id: 'brief', type: 'input', label: 'Brief', position: { x: 0, y: 0 }, config: {} },
    { id: 'shout', type: 'transform', label: 'Shout', position: { x: 250, y: 0 }, config: { template: 'Topic: {{ input.topic }}' } },
    { id: 'old', type: 'output', label: 'Old result', position: { x: 500, y: 120 }, config: {} },
    { id: 'result', type: 'output', label: 'Result', position: { x: 500, y: 0 }, config: {} },
  ],
  edges: [
    { id: 'e1', source: 'brief', target: 'shout' },
    { id: 'e2', source: 'shout', target: 'result' },
    { id: 'e3', source: 'shout', target: 'old' },
  ],
};

const AFTER: Graph = {
  nodes: [
    { id: 'brief', type: 'input', label: 'Brief', position: { x: 0, y: 0 }, config: {} },
    { id: 'shout', type: 'transform', label: 'Shout', position: { x: 250, y: 0 }, config: { template: 'TOPIC: {{ input.topic | upper }}' } },
    { id: 'result', type: 'output', label: 'Answer', position: { x: 520, y: 0 }, config: {} },
    { id: 'copy', type: 'output', label: 'Copy', position: { x: 500, y: 200 }, config: {} },
  ],
  edges: [
    { id: 'e1', source: 'brief', target: 'shout' }, // e1 is the same edge in both
    { id: 'n2', source: 'shout', target: 'result' },
    { id: 'e3', source: 'shout', target: 'copy' }, // a new edge under a reused id
  ],
};

const DIFF: VersionComparison = {
  from: 1,
  to: 3,
  nodes: {
    added: [{ id: 'copy', type: 'output', label: 'Copy' }],
    removed: [{ id: 'old', type: 'output', label: 'Old result' }],
    changed: [
      {
        id: 'shout',
        type: 'transform',
        label: 'Shout',
        label_before: 'Shout',
        renamed: false,
        moved: false,
        settings: [
          { path: 'config.template', change: 'changed', before: 'Topic: {{ input.topic }}', after: 'TOPIC: {{ input.topic | upper }}' },
          { path: 'config.retry', change: 'added', before: null, after: { max_attempts: 3 } },
        ],
      },
    ],
    moved_or_renamed: [{ id: 'result', type: 'output', label: 'Answer', label_before: 'Result', renamed: true, moved: true, settings: [] }],
    unchanged: 1,
  },
  edges: {
    added: [{ id: 'e3', source: 'shout', target: 'copy', kind: 'flow', source_handle: 'out', target_handle: 'in' }],
    removed: [{ id: 'e3', source: 'shout', target: 'old', kind: 'flow', source_handle: 'out', target_handle: 'in' }],
  },
};

const VIEW: ComparisonView = { from: 1, to: 3, diff: DIFF, before: BEFORE, after: AFTER };

describe('the comparison on the canvas', () => {
  it('marks each node and ghosts what was removed where it was', () => {
    expect(Object.fromEntries(diffMarks(DIFF))).toEqual({ copy: 'added', old: 'removed', shout: 'changed', result: 'moved' });
    const { nodes, edges } = comparisonFlow(VIEW);
    expect(nodes.map((n) => [n.id, n.className])).toEqual([
      ['brief', undefined],
      ['shout', 'diff-changed'],
      ['result', 'diff-moved'],
      ['copy', 'diff-added'],
      ['old', 'diff-removed'],
    ]);
    expect(nodes.find((n) => n.id === 'old')?.position).toEqual({ x: 500, y: 120 });
    // the newer version's edges, the added one marked; the removed one drawn under an id of its own
    expect(edges.map((e) => [e.id, e.source, e.target, e.className])).toEqual([
      ['e1', 'brief', 'shout', undefined],
      ['n2', 'shout', 'result', undefined],
      ['e3', 'shout', 'copy', 'diff-added'],
      ['was:e3', 'shout', 'old', 'diff-removed'],
    ]);
  });

  it('draws the focused node selected', () => {
    const { nodes } = comparisonFlow(VIEW, 'shout');
    const shout = nodes.find((n) => n.id === 'shout');
    expect(shout?.className).toBe('diff-changed diff-focus');
    expect(shout?.selected).toBe(true);
    expect(nodes.filter((n) => n.selected)).toHaveLength(1);
  });

  it('puts the marks on the cards React Flow draws', () => {
    const { nodes, edges } = comparisonFlow(VIEW);
    const info: CanvasInfo = { catalogue, nodeIssues: new Map(), edgeIssues: new Map(), run: null, readOnly: true };
    const { container } = render(
      <ReactFlowProvider>
        <CanvasContext.Provider value={info}>
          <div style={{ width: 1200, height: 800 }}>
            <Canvas nodes={nodes} edges={edges} />
          </div>
        </CanvasContext.Provider>
      </ReactFlowProvider>,
    );
    const wrapperOf = (id: string) => screen.getByTestId(`node-${id}`).closest('.react-flow__node');
    expect(wrapperOf('shout')?.classList.contains('diff-changed')).toBe(true);
    expect(wrapperOf('copy')?.classList.contains('diff-added')).toBe(true);
    expect(wrapperOf('old')?.classList.contains('diff-removed')).toBe(true);
    expect(wrapperOf('brief')?.className).not.toMatch(/diff-/);
    expect(container.querySelectorAll('.react-flow__node.diff-removed')).toHaveLength(1);
  });

  it('writes values as JSON, and says when a key was not set', () => {
    expect(formatSetting('a "b"', false)).toBe('"a \\"b\\""');
    expect(formatSetting({ max_attempts: 3 }, false)).toBe('{"max_attempts":3}');
    expect(formatSetting(null, true)).toBe('(not set)');
    expect(formatSetting(null, false)).toBe('null');
    expect(formatSetting('x'.repeat(500), false)).toHaveLength(160);
  });
});

describe('the comparison panel', () => {
  it('lists changed nodes with each setting before → after, then added, removed and moved ones', () => {
    render(<VersionComparePanel diff={DIFF} focus={null} onFocus={() => {}} onClose={() => {}} />);
    expect(screen.getByRole('heading', { level: 2 }).textContent).toBe('Version 1 → 3');
    expect(screen.getByTestId('compare-summary').textContent).toBe('1 changed · 1 added · 1 removed · 1 unchanged');
    const shout = screen.getByTestId('compare-node-shout');
    expect(shout.getAttribute('data-mark')).toBe('changed');
    const settings = within(shout).getAllByTestId('compare-setting');
    expect(settings.map((s) => s.getAttribute('data-path'))).toEqual(['config.template', 'config.retry']);
    expect(settings[0].querySelector('.compare-before')?.textContent).toBe('"Topic: {{ input.topic }}"');
    expect(settings[0].querySelector('.compare-after')?.textContent).toBe('"TOPIC: {{ input.topic | upper }}"');
    expect(settings[1].querySelector('.compare-before')?.textContent).toBe('(not set)');
    expect(within(screen.getByTestId('compare-added')).getByText('Copy')).toBeTruthy();
    expect(within(screen.getByTestId('compare-removed')).getByText('Old result')).toBeTruthy();
    expect(screen.getByTestId('compare-node-result').textContent).toContain('renamed from “Result”, moved');
    expect(screen.getByTestId('compare-edges').textContent).toContain('+ shout → copy');
    expect(screen.getByTestId('compare-edges').textContent).toContain('− shout → old');
  });

  it('shows a picked node on the canvas', () => {
    const onFocus = vi.fn();
    const { rerender } = render(<VersionComparePanel diff={DIFF} focus={null} onFocus={onFocus} onClose={() => {}} />);
    fireEvent.click(within(screen.getByTestId('compare-node-old')).getByRole('button'));
    expect(onFocus).toHaveBeenCalledWith('old');
    rerender(<VersionComparePanel diff={DIFF} focus="old" onFocus={onFocus} onClose={() => {}} />);
    expect(screen.getByTestId('compare-node-old').classList.contains('focused')).toBe(true);
  });

  it('says so when there is no difference', () => {
    const same: VersionComparison = {
      from: 2,
      to: 2,
      nodes: { added: [], removed: [], changed: [], moved_or_renamed: [], unchanged: 3 },
      edges: { added: [], removed: [] },
    };
    render(<VersionComparePanel diff={same} focus={null} onFocus={() => {}} onClose={() => {}} />);
    expect(screen.getByTestId('compare-panel').textContent).toContain('No differences');
  });
});

const calls = fakeServer(({ url }) => {
  if (url === '/api/workflows/wf/versions/') return json([{ number: 1 }, { number: 3 }, { number: 2 }]);
  if (url === '/api/workflows/wf/versions/compare/?from=1&to=3') return json(DIFF);
  if (url === '/api/workflows/wf/versions/1/') return json({ number: 1, graph: BEFORE });
  if (url === '/api/workflows/wf/versions/3/') return json({ number: 3, graph: AFTER });
  return json({ error: { code: 'not_found', message: 'this workflow has no version 9' } }, 404);
});

describe('comparing from the version history', () => {
  it('offers "Compare" with the current version on every other version, and any two picked', async () => {
    const onCompare = vi.fn();
    render(<VersionsPanel workflowId="wf" current={3} previewing={null} refreshKey={0} onPreview={() => {}} onRestore={() => {}} onCompare={onCompare} onClose={() => {}} />);
    await screen.findByTestId('version-1');
    expect(screen.queryByTestId('compare-3')).toBeNull(); // the current one itself
    fireEvent.click(screen.getByRole('button', { name: 'Compare version 1 with current' }));
    expect(onCompare).toHaveBeenLastCalledWith(1, 3);

    const picked = screen.getByTestId('compare-picked') as HTMLButtonElement;
    expect(picked.disabled).toBe(true);
    fireEvent.click(screen.getByLabelText('Pick version 1 to compare'));
    fireEvent.click(screen.getByLabelText('Pick version 3 to compare'));
    fireEvent.click(screen.getByLabelText('Pick version 2 to compare')); // two at most: 1 goes
    expect((screen.getByLabelText('Pick version 1 to compare') as HTMLInputElement).checked).toBe(false);
    expect(picked.disabled).toBe(false);
    fireEvent.click(picked);
    expect(onCompare).toHaveBeenLastCalledWith(3, 2);
  });

  const wrapper = ({ children }: { children: ReactNode }) => <ToastProvider>{children}</ToastProvider>;

  it('loads the comparison and both graphs, older first whichever way asked', async () => {
    const { result } = renderHook(() => useVersions('wf', null, false, { adoptRestored: vi.fn() }), { wrapper });
    let ok = false;
    await act(async () => {
      ok = await result.current.compareVersions(3, 1);
    });
    expect(ok).toBe(true);
    const comparison = result.current.comparison;
    expect(comparison && [comparison.from, comparison.to]).toEqual([1, 3]);
    expect(comparison?.diff).toEqual(DIFF);
    expect(comparison?.after.nodes.map((n) => n.id)).toEqual(['brief', 'shout', 'result', 'copy']);
    expect(calls).toEqual([]); // reads only
    // a preview replaces the comparison, and the other way round
    await act(() => result.current.previewVersion(1));
    expect(result.current.comparison).toBeNull();
    expect(result.current.preview?.number).toBe(1);
    await act(async () => {
      await result.current.compareVersions(1, 3);
    });
    expect(result.current.preview).toBeNull();
    act(() => result.current.closeComparison());
    expect(result.current.comparison).toBeNull();
  });

  it('leaves things as they were when a version cannot be had', async () => {
    const { result } = renderHook(() => useVersions('wf', null, false, { adoptRestored: vi.fn() }), { wrapper });
    let ok = true;
    await act(async () => {
      ok = await result.current.compareVersions(1, 9);
    });
    expect(ok).toBe(false);
    expect(result.current.comparison).toBeNull();
  });
});
