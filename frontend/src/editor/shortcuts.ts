// Keyboard shortcuts of the editor: one list, used by the key handler (useShortcuts) and by the
// help popover, so the help cannot promise a key the handler does not answer.

export const isMac = typeof navigator !== 'undefined' && /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
export const MOD = isMac ? '⌘' : 'Ctrl';

/** What the page shows: the workflow to edit, a run of it, or an old version (read-only). */
export type EditorMode = 'edit' | 'run' | 'preview';

/** What a shortcut does; the page supplies one function per name. */
export type ShortcutAction = 'save' | 'run' | 'undo' | 'redo' | 'selectAll' | 'duplicate' | 'layout' | 'fit' | 'help' | 'dismiss';

/** One key press: `key` compared without case; `mod` (Ctrl or ⌘) and `shift` must be as given,
 *  or may be either when left out. */
export interface KeyPress {
  key: string;
  mod?: boolean;
  shift?: boolean;
}

export interface Shortcut {
  /** the keys as the help shows them */
  keys: string;
  does: string;
  /** the presses the key handler answers; none when React Flow (selection, moving, deleting) or
   *  the browser's copy, cut and paste events (useClipboard) do the work */
  presses: KeyPress[];
  action?: ShortcutAction;
  /** where the action runs; elsewhere the key is left to the browser */
  modes: readonly EditorMode[];
  /** answered inside text fields too, and claimed from the browser in every mode (its own "save
   *  page" on Ctrl S), even where the action does not run */
  everywhere?: boolean;
  /** leave the browser's own handling of the key in place */
  keepDefault?: boolean;
}

const ALL_MODES: readonly EditorMode[] = ['edit', 'run', 'preview'];
const EDITING: readonly EditorMode[] = ['edit'];

export const SHORTCUTS: readonly Shortcut[] = [
  { keys: `${MOD} S`, does: 'Save a new version', presses: [{ key: 's', mod: true }], action: 'save', modes: EDITING, everywhere: true },
  { keys: `${MOD} Enter`, does: 'Run…', presses: [{ key: 'enter', mod: true }], action: 'run', modes: ALL_MODES, everywhere: true },
  { keys: `${MOD} Z`, does: 'Undo', presses: [{ key: 'z', mod: true, shift: false }], action: 'undo', modes: EDITING },
  {
    keys: `${MOD} Shift Z  /  ${MOD} Y`,
    does: 'Redo',
    presses: [
      { key: 'z', mod: true, shift: true },
      { key: 'y', mod: true },
    ],
    action: 'redo',
    modes: EDITING,
  },
  { keys: `${MOD} C  /  ${MOD} X  /  ${MOD} V`, does: 'Copy, cut, paste nodes', presses: [], modes: EDITING },
  { keys: `${MOD} D`, does: 'Duplicate selection', presses: [{ key: 'd', mod: true }], action: 'duplicate', modes: EDITING },
  { keys: `${MOD} A`, does: 'Select all', presses: [{ key: 'a', mod: true }], action: 'selectAll', modes: EDITING },
  { keys: 'Delete  /  Backspace', does: 'Delete selection', presses: [], modes: EDITING },
  { keys: `Shift drag  /  ${MOD} click`, does: 'Select several', presses: [], modes: EDITING },
  { keys: 'Arrow keys', does: 'Move the selected nodes', presses: [], modes: EDITING },
  { keys: 'Shift L', does: 'Auto-layout', presses: [{ key: 'l', mod: false, shift: true }], action: 'layout', modes: EDITING },
  { keys: 'Shift F', does: 'Fit the flow in view', presses: [{ key: 'f', mod: false, shift: true }], action: 'fit', modes: ALL_MODES },
  { keys: 'Esc', does: 'Close panel, clear selection', presses: [{ key: 'escape' }], action: 'dismiss', modes: ALL_MODES, keepDefault: true },
  {
    keys: '?',
    does: 'Show this help',
    // "?" is Shift / on many layouts, and some browsers report the unshifted key
    presses: [{ key: '?' }, { key: '/', shift: true }],
    action: 'help',
    modes: ALL_MODES,
  },
];

function pressed(press: KeyPress, event: KeyboardEvent): boolean {
  const mod = event.metaKey || event.ctrlKey;
  return (
    event.key.toLowerCase() === press.key &&
    (press.mod === undefined || press.mod === mod) &&
    (press.shift === undefined || press.shift === event.shiftKey)
  );
}

/** The shortcut a key press means here, if any: the first of `shortcuts` it matches that applies
 *  in this mode (or everywhere), and outside text fields unless it works everywhere. */
export function shortcutFor(event: KeyboardEvent, mode: EditorMode, shortcuts: readonly Shortcut[] = SHORTCUTS): Shortcut | null {
  const inField = isEditable(event.target);
  for (const shortcut of shortcuts) {
    if (inField && !shortcut.everywhere) continue; // text fields keep their own undo, select-all and copy
    if (!shortcut.everywhere && !shortcut.modes.includes(mode)) continue;
    if (shortcut.presses.some((press) => pressed(press, event))) return shortcut;
  }
  return null;
}

export function isEditable(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.tagName) return false;
  const tag = el.tagName.toLowerCase();
  return tag === 'input' || tag === 'textarea' || tag === 'select' || el.isContentEditable;
}
