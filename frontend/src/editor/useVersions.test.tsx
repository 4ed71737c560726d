import { act, renderHook, waitFor } from '@testing-library/react';
import type { ReactNode } from 'react';
import { describe, expect, it, vi } from 'vitest';
import type { Graph } from '../api/graph';
import type { WorkflowDetail } from '../api/resources';
import { ToastProvider } from '../components/toast';
import { fakeServer, json } from '../test/fakeServer';
import { useVersionHistory, useVersions } from './useVersions';

const OLD: Graph = { nodes: [{ id: 'brief', type: 'input', label: '', position: { x: 0, y: 0 }, config: {} }], edges: [] };

const calls = fakeServer(({ method, url }) => {
  if (url === '/api/workflows/wf/versions/2/' && method === 'GET') return json({ number: 2, graph: OLD });
  if (url === '/api/workflows/wf/versions/2/restore/') return json({ id: 'wf', name: 'Brief', version: 5, graph: OLD, issues: [] });
  if (url === '/api/workflows/wf/versions/') return json([{ number: 1 }, { number: 3 }, { number: 2 }]);
  return json({ error: { code: 'not_found', message: 'No such version.' } }, 404);
});

const wrapper = ({ children }: { children: ReactNode }) => <ToastProvider>{children}</ToastProvider>;

function mount(dirty: boolean) {
  const adoptRestored = vi.fn<(result: WorkflowDetail, graph: Graph) => void>();
  const hook = renderHook(() => useVersions('wf', null, dirty, { adoptRestored }), { wrapper });
  return { adoptRestored, result: hook.result };
}

describe('versions', () => {
  it('previews an old version read-only, and closes it', async () => {
    const { result } = mount(false);
    await act(() => result.current.previewVersion(2));
    expect(result.current.preview).toEqual({ number: 2, graph: OLD });
    act(() => result.current.closePreview());
    expect(result.current.preview).toBeNull();
  });

  it('leaves the preview alone when the version cannot be had', async () => {
    const { result } = mount(false);
    await act(() => result.current.previewVersion(9));
    expect(result.current.preview).toBeNull();
  });

  it('restores a version: the document takes it and the preview closes', async () => {
    const { result, adoptRestored } = mount(false);
    await act(() => result.current.previewVersion(2));
    await act(() => result.current.restoreVersion(2));
    expect(calls).toEqual([{ method: 'POST', url: '/api/workflows/wf/versions/2/restore/', body: {} }]);
    expect(adoptRestored).toHaveBeenCalledWith(expect.objectContaining({ version: 5 }), OLD);
    expect(result.current.preview).toBeNull();
  });

  it('asks before a restore drops unsaved changes, and does nothing when told no', async () => {
    const { result, adoptRestored } = mount(true);
    vi.mocked(window.confirm).mockReturnValueOnce(false);
    await act(() => result.current.restoreVersion(2));
    expect(window.confirm).toHaveBeenCalledTimes(1);
    expect(calls).toEqual([]);
    expect(adoptRestored).not.toHaveBeenCalled();
  });

  it('lists the history newest first, again when told to', async () => {
    const hook = renderHook(({ key }) => useVersionHistory('wf', key), { initialProps: { key: 0 } });
    await waitFor(() => expect(hook.result.current.versions?.map((v) => v.number)).toEqual([3, 2, 1]));
    const fetches = vi.mocked(fetch).mock.calls.length;
    hook.rerender({ key: 1 });
    await waitFor(() => expect(vi.mocked(fetch).mock.calls.length).toBe(fetches + 1));
  });
});
