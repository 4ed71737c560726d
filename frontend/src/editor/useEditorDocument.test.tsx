import { act, renderHook, waitFor } from '@testing-library/react';
import type { ReactNode } from 'react';
import { describe, expect, it, vi } from 'vitest';
import type { Graph } from '../api/graph';
import { ToastProvider } from '../components/toast';
import { fakeServer, json } from '../test/fakeServer';
import { catalogue } from '../test/fixtures';
import { useEditorDocument } from './useEditorDocument';
import { useGraphEditor } from './useGraphEditor';
import { useLiveValidation, VALIDATION_DELAY_MS } from './useLiveValidation';

const GRAPH: Graph = {
  nodes: [
    { id: 'brief', type: 'input', label: '', position: { x: 0, y: 0 }, config: {} },
    { id: 'done', type: 'output', label: '', position: { x: 300, y: 0 }, config: {} },
  ],
  edges: [{ id: 'e1', source: 'brief', target: 'done', kind: 'flow' }],
};
const ISSUE = { code: 'empty_graph', message: 'something to fix' };

let server = { version: 3, conflict: false, can: { edit: true, run: true } };
const calls = fakeServer(({ method, url, body }) => {
  if (url === '/api/workflows/wf/' && method === 'GET') {
    return json({ id: 'wf', name: 'Brief', version: server.version, graph: GRAPH, issues: [ISSUE], can: server.can });
  }
  if (url === '/api/workflows/wf/' && method === 'PUT') {
    if (server.conflict && body.base_version) return json({ error: { code: 'conflict', message: 'Version 4 was saved meanwhile.' } }, 409);
    server.version += 1;
    return json({ id: 'wf', name: 'Brief', version: server.version, graph: body.graph, issues: [] });
  }
  if (url === '/api/workflows/wf/' && method === 'PATCH') return json({ id: 'wf', name: body.name });
  if (url === '/api/workflows/wf/validate/') return json({ valid: false, errors: [{ code: 'checked', message: `${body.graph.nodes.length} nodes` }] });
  return json({ error: { code: 'not_found', message: url } }, 404);
});

const wrapper = ({ children }: { children: ReactNode }) => <ToastProvider>{children}</ToastProvider>;

function mount(live = false) {
  return renderHook(
    () => {
      const editor = useGraphEditor(catalogue);
      const doc = useEditorDocument('wf', editor);
      useLiveValidation('wf', editor.graph, doc, live);
      return { editor, doc };
    },
    { wrapper },
  );
}

async function loaded(live = false) {
  const hook = mount(live);
  await waitFor(() => expect(hook.result.current.doc.workflow).not.toBeNull());
  return hook;
}

function reset(over: Partial<typeof server> = {}) {
  server = { version: 3, conflict: false, can: { edit: true, run: true }, ...over };
}

describe('the editor document', () => {
  it('opens the workflow: its graph in the editor, saved, with its name, version and issues', async () => {
    reset();
    const { result } = await loaded();
    expect(result.current.editor.graph).toEqual(GRAPH);
    expect(result.current.editor.dirty).toBe(false);
    expect(result.current.doc).toMatchObject({ name: 'Brief', version: 3, issues: [ISSUE], savedGraph: GRAPH, canEdit: true });
    expect(document.title).toBe('Brief — Flows');
  });

  it('saves a change as a new version on top of the one it started from', async () => {
    reset();
    const { result } = await loaded();
    act(() => result.current.editor.remove(['done'], []));
    expect(result.current.editor.dirty).toBe(true);
    await waitFor(() => expect(document.title).toBe('• Brief — Flows'));
    const before = result.current.doc.savedCount;
    let saved = false;
    await act(async () => {
      saved = await result.current.doc.save();
    });
    expect(saved).toBe(true);
    expect(calls).toEqual([{ method: 'PUT', url: '/api/workflows/wf/', body: { graph: result.current.editor.graph, base_version: 3 } }]);
    expect(result.current.editor.dirty).toBe(false);
    expect(result.current.doc).toMatchObject({ version: 4, issues: [], savedCount: before + 1 });
    expect(result.current.doc.savedGraph.nodes.map((n) => n.id)).toEqual(['brief']);
  });

  it('overwrites a newer version only when asked to', async () => {
    reset({ conflict: true });
    const { result } = await loaded();
    act(() => result.current.editor.remove(['done'], []));
    vi.mocked(window.confirm).mockReturnValueOnce(false);
    await act(async () => {
      expect(await result.current.doc.save()).toBe(false);
    });
    expect(result.current.editor.dirty).toBe(true);
    await act(async () => {
      expect(await result.current.doc.save()).toBe(true);
    });
    // the second time: once with the base version (refused), then without it
    expect(calls.map((c) => (c.body as { base_version?: number }).base_version)).toEqual([3, 3, undefined]);
  });

  it('does not send a save the role does not allow', async () => {
    reset({ can: { edit: false, run: true } });
    const { result } = await loaded();
    act(() => result.current.editor.remove(['done'], []));
    await act(async () => {
      expect(await result.current.doc.save()).toBe(false);
    });
    expect(calls).toEqual([]);
  });

  it('renames, and puts an empty name back', async () => {
    reset();
    const { result } = await loaded();
    act(() => result.current.doc.setName('  '));
    await act(() => result.current.doc.rename());
    expect(result.current.doc.name).toBe('Brief');
    act(() => result.current.doc.setName('Briefing'));
    await act(() => result.current.doc.rename());
    expect(calls).toEqual([{ method: 'PATCH', url: '/api/workflows/wf/', body: { name: 'Briefing' } }]);
    expect(result.current.doc.workflow?.name).toBe('Briefing');
  });
});

describe('the live check', () => {
  it('asks the server a moment after the structure changes, not when a node moves', async () => {
    reset();
    const { result } = await loaded(true);
    act(() => result.current.editor.replace({ ...GRAPH, nodes: GRAPH.nodes.map((n) => ({ ...n, position: { x: n.position!.x + 40, y: 0 } })) }));
    await new Promise((resolve) => setTimeout(resolve, VALIDATION_DELAY_MS + 200));
    expect(calls).toEqual([]);
    act(() => result.current.editor.remove(['done'], []));
    await waitFor(() => expect(result.current.doc.issues).toEqual([{ code: 'checked', message: '1 nodes' }]), { timeout: VALIDATION_DELAY_MS + 1000 });
    expect(calls.map((c) => c.url)).toEqual(['/api/workflows/wf/validate/']);
  });

  it('stays quiet while the page is not editing', async () => {
    reset();
    const { result } = await loaded(false);
    act(() => result.current.editor.remove(['done'], []));
    await new Promise((resolve) => setTimeout(resolve, VALIDATION_DELAY_MS + 200));
    expect(calls).toEqual([]);
    expect(result.current.doc.issues).toEqual([ISSUE]);
  });
});
