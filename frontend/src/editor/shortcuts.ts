// Keyboard shortcuts of the editor: one list, used by the handler and by the help popover.

export const isMac = typeof navigator !== 'undefined' && /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
export const MOD = isMac ? '⌘' : 'Ctrl';

export const SHORTCUTS: { keys: string; does: string }[] = [
  { keys: `${MOD} S`, does: 'Save a new version' },
  { keys: `${MOD} Enter`, does: 'Run…' },
  { keys: `${MOD} Z`, does: 'Undo' },
  { keys: `${MOD} Shift Z  /  ${MOD} Y`, does: 'Redo' },
  { keys: `${MOD} C  /  ${MOD} X  /  ${MOD} V`, does: 'Copy, cut, paste nodes' },
  { keys: `${MOD} D`, does: 'Duplicate selection' },
  { keys: `${MOD} A`, does: 'Select all' },
  { keys: 'Delete  /  Backspace', does: 'Delete selection' },
  { keys: `Shift drag  /  ${MOD} click`, does: 'Select several' },
  { keys: 'Arrow keys', does: 'Move the selected nodes' },
  { keys: 'Shift L', does: 'Auto-layout' },
  { keys: 'Shift F', does: 'Fit the flow in view' },
  { keys: 'Esc', does: 'Close panel, clear selection' },
  { keys: '?', does: 'Show this help' },
];

export function isEditable(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.tagName) return false;
  const tag = el.tagName.toLowerCase();
  return tag === 'input' || tag === 'textarea' || tag === 'select' || el.isContentEditable;
}
