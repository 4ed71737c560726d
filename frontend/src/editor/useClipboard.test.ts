import { renderHook } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import type { Fragment } from '../graph/clipboard';
import { CLIPBOARD_MIME, fragmentOf, useClipboard } from './useClipboard';

const FRAGMENT: Fragment = { nodes: [{ id: 'a', type: 'transform', label: '', position: { x: 0, y: 0 }, config: { template: 'x' } }], edges: [] };

/** A clipboard event with a store of its own, as the browser hands one out. */
function clipboardEvent(type: 'copy' | 'cut' | 'paste', data: Record<string, string> = {}) {
  const store = { ...data };
  const event = new Event(type, { bubbles: true, cancelable: true });
  const clipboardData = { getData: (kind: string) => store[kind] ?? '', setData: (kind: string, value: string) => (store[kind] = value) };
  Object.defineProperty(event, 'clipboardData', { value: clipboardData });
  return { event: event as ClipboardEvent, store };
}

function fakeEditor(selection: Fragment | null) {
  return { copySelection: vi.fn(() => selection), remove: vi.fn(), paste: vi.fn(() => []) };
}

describe('copy, cut and paste of nodes', () => {
  it('puts the selection on the clipboard as our type and as text', () => {
    const editor = fakeEditor(FRAGMENT);
    renderHook(() => useClipboard(editor, true));
    const { event, store } = clipboardEvent('copy');
    document.dispatchEvent(event);
    expect(event.defaultPrevented).toBe(true);
    expect(JSON.parse(store[CLIPBOARD_MIME])).toEqual(FRAGMENT);
    expect(JSON.parse(store['text/plain'])).toEqual({ flowFragment: FRAGMENT });
    expect(editor.remove).not.toHaveBeenCalled();
  });

  it('removes what it cut', () => {
    const editor = fakeEditor(FRAGMENT);
    renderHook(() => useClipboard(editor, true));
    document.dispatchEvent(clipboardEvent('cut').event);
    expect(editor.remove).toHaveBeenCalledWith(['a'], []);
  });

  it('pastes a fragment from the clipboard, or the last one copied when it holds none', () => {
    const editor = fakeEditor(FRAGMENT);
    renderHook(() => useClipboard(editor, true));
    const other = { ...FRAGMENT, nodes: [{ ...FRAGMENT.nodes[0], id: 'b' }] };
    document.dispatchEvent(clipboardEvent('paste', { 'text/plain': JSON.stringify({ flowFragment: other }) }).event);
    expect(editor.paste).toHaveBeenLastCalledWith(other);
    document.dispatchEvent(clipboardEvent('copy').event);
    document.dispatchEvent(clipboardEvent('paste', { 'text/plain': 'just words' }).event);
    expect(editor.paste).toHaveBeenLastCalledWith(FRAGMENT);
  });

  it('leaves the clipboard to text fields, and to a page that is not editing', () => {
    const editor = fakeEditor(FRAGMENT);
    const hook = renderHook(({ enabled }) => useClipboard(editor, enabled), { initialProps: { enabled: true } });
    const field = document.body.appendChild(document.createElement('input'));
    const inField = clipboardEvent('copy');
    field.dispatchEvent(inField.event);
    expect(inField.event.defaultPrevented).toBe(false);
    hook.rerender({ enabled: false });
    const idle = clipboardEvent('paste', { [CLIPBOARD_MIME]: JSON.stringify(FRAGMENT) });
    document.dispatchEvent(idle.event);
    expect(idle.event.defaultPrevented).toBe(false);
    expect(editor.copySelection).not.toHaveBeenCalled();
    expect(editor.paste).not.toHaveBeenCalled();
    field.remove();
  });

  it('reads only fragments', () => {
    expect(fragmentOf(null)).toBeNull();
    expect(fragmentOf(clipboardEvent('paste', { 'text/plain': '{"nodes": 3}' }).event.clipboardData)).toBeNull();
    expect(fragmentOf(clipboardEvent('paste', { [CLIPBOARD_MIME]: JSON.stringify(FRAGMENT) }).event.clipboardData)).toEqual(FRAGMENT);
  });
});
