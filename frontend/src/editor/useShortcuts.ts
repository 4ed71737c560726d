// The editor's key handler: answers the presses listed in SHORTCUTS with the page's actions.

import { useEffect, useRef } from 'react';
import { SHORTCUTS, shortcutFor, type EditorMode, type Shortcut, type ShortcutAction } from './shortcuts';

export type ShortcutActions = Record<ShortcutAction, () => void>;

export function useShortcuts(mode: EditorMode, actions: ShortcutActions, shortcuts: readonly Shortcut[] = SHORTCUTS): void {
  // read when a key is pressed: the listener stays put while the page re-renders
  const latest = useRef({ mode, actions, shortcuts });
  latest.current = { mode, actions, shortcuts };
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const { mode, actions, shortcuts } = latest.current;
      const shortcut = shortcutFor(event, mode, shortcuts);
      if (!shortcut) return;
      if (!shortcut.keepDefault) event.preventDefault();
      if (shortcut.action && shortcut.modes.includes(mode)) actions[shortcut.action]();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
}
