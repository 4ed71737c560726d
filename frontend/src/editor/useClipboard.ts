// Copy, cut and paste of nodes as the browser's clipboard events rather than key presses: they
// also work across tabs, with no permission prompt. The fragment goes out as our own type and as
// text (so it can be pasted into another editor, or from a file); a copy kept in memory serves
// a paste whose clipboard holds no fragment.

import { useEffect, useRef } from 'react';
import { isFragment, type Fragment } from '../graph/clipboard';
import { isEditable } from './shortcuts';
import type { GraphEditor } from './useGraphEditor';

export const CLIPBOARD_MIME = 'application/x-flow-fragment';
let internalClipboard: Fragment | null = null;

function hasTextSelection(): boolean {
  const selection = window.getSelection?.();
  return !!selection && selection.toString().length > 0;
}

/** Reads the fragment a paste carries: ours, or the JSON text we put beside it. */
export function fragmentOf(data: DataTransfer | null): Fragment | null {
  const raw = data?.getData(CLIPBOARD_MIME) || data?.getData('text/plain');
  if (!raw) return null;
  try {
    const parsed = JSON.parse(raw);
    const candidate = parsed?.flowFragment ?? parsed;
    return isFragment(candidate) ? candidate : null;
  } catch {
    return null; // not ours
  }
}

export function useClipboard(editor: Pick<GraphEditor, 'copySelection' | 'remove' | 'paste'>, enabled: boolean): void {
  const latest = useRef({ editor, enabled });
  latest.current = { editor, enabled };
  useEffect(() => {
    const onCopy = (event: ClipboardEvent, cut: boolean) => {
      const { editor, enabled } = latest.current;
      if (!enabled || isEditable(event.target) || hasTextSelection()) return;
      const fragment = editor.copySelection();
      if (!fragment) return;
      internalClipboard = fragment;
      event.clipboardData?.setData(CLIPBOARD_MIME, JSON.stringify(fragment));
      event.clipboardData?.setData('text/plain', JSON.stringify({ flowFragment: fragment }, null, 2));
      event.preventDefault();
      if (cut) editor.remove(fragment.nodes.map((n) => n.id), []);
    };
    const onPaste = (event: ClipboardEvent) => {
      const { editor, enabled } = latest.current;
      if (!enabled || isEditable(event.target)) return;
      const fragment = fragmentOf(event.clipboardData) ?? internalClipboard;
      if (!fragment) return;
      event.preventDefault();
      editor.paste(fragment);
    };
    const copy = (e: ClipboardEvent) => onCopy(e, false);
    const cut = (e: ClipboardEvent) => onCopy(e, true);
    document.addEventListener('copy', copy);
    document.addEventListener('cut', cut);
    document.addEventListener('paste', onPaste);
    return () => {
      document.removeEventListener('copy', copy);
      document.removeEventListener('cut', cut);
      document.removeEventListener('paste', onPaste);
    };
  }, []);
}
