import { render, renderHook, screen, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { HelpPopover } from './HelpPopover';
import { SHORTCUTS, type EditorMode, type KeyPress, type ShortcutAction } from './shortcuts';
import { useShortcuts, type ShortcutActions } from './useShortcuts';

const ACTIONS: ShortcutAction[] = ['save', 'run', 'undo', 'redo', 'selectAll', 'duplicate', 'layout', 'fit', 'help', 'dismiss'];

function spies(): ShortcutActions {
  return Object.fromEntries(ACTIONS.map((name) => [name, vi.fn()])) as unknown as ShortcutActions;
}

function called(actions: ShortcutActions): string[] {
  return ACTIONS.filter((name) => (actions[name] as ReturnType<typeof vi.fn>).mock.calls.length > 0);
}

/** Presses `press` (on `target`, the page when left out); whether the page claimed the key. */
function press(press: KeyPress, target: EventTarget = window): boolean {
  const event = new KeyboardEvent('keydown', {
    key: press.key.length === 1 ? press.key : press.key.charAt(0).toUpperCase() + press.key.slice(1),
    ctrlKey: press.mod ?? false,
    shiftKey: press.shift ?? false,
    bubbles: true,
    cancelable: true,
  });
  target.dispatchEvent(event);
  return event.defaultPrevented;
}

function mount(mode: EditorMode) {
  const actions = spies();
  const hook = renderHook(({ mode }) => useShortcuts(mode, actions), { initialProps: { mode } });
  return { actions, hook };
}

describe('the shortcut list drives the key handler', () => {
  const keyed = SHORTCUTS.filter((s) => s.action && s.presses.length);

  it.each(keyed.flatMap((s) => s.presses.map((p) => [s.does, p, s] as const)))('%s: %o runs its action', (_does, keys, shortcut) => {
    const { actions } = mount(shortcut.modes[0]);
    const claimed = press(keys);
    expect(called(actions)).toEqual([shortcut.action]);
    expect(claimed).toBe(!shortcut.keepDefault);
  });

  it('gives every action a listed key', () => {
    expect(new Set(keyed.map((s) => s.action))).toEqual(new Set(ACTIONS));
  });

  it('leaves editing keys to the browser in a run or an old version', () => {
    for (const mode of ['run', 'preview'] as const) {
      const { actions, hook } = mount(mode);
      expect(press({ key: 'z', mod: true })).toBe(false);
      expect(press({ key: 'a', mod: true })).toBe(false);
      expect(press({ key: 'l', shift: true })).toBe(false);
      expect(called(actions)).toEqual([]);
      // looking around still works
      press({ key: 'f', shift: true });
      press({ key: '?' });
      expect(called(actions)).toEqual(['fit', 'help']);
      hook.unmount();
    }
  });

  it('keeps the browser from saving the page in a run too, without saving', () => {
    const { actions } = mount('run');
    expect(press({ key: 's', mod: true })).toBe(true);
    expect(called(actions)).toEqual([]);
  });

  it('lets text fields keep their own keys, except save and run', () => {
    const { actions } = mount('edit');
    const field = document.body.appendChild(document.createElement('textarea'));
    for (const keys of [{ key: 'z', mod: true }, { key: 'a', mod: true }, { key: '?' }, { key: 'escape' }, { key: 'l', shift: true }]) {
      expect(press(keys, field)).toBe(false);
    }
    expect(called(actions)).toEqual([]);
    press({ key: 's', mod: true }, field);
    press({ key: 'enter', mod: true }, field);
    expect(called(actions)).toEqual(['save', 'run']);
    field.remove();
  });

  it('tells undo from redo by Shift, and needs no modifier for the layout keys', () => {
    const { actions } = mount('edit');
    press({ key: 'z', mod: true, shift: true });
    expect(called(actions)).toEqual(['redo']);
    press({ key: 'l', mod: true, shift: true });
    press({ key: 'd' });
    expect(called(actions)).toEqual(['redo']);
  });

  it('answers the mode the page is in now', () => {
    const { actions, hook } = mount('run');
    press({ key: 'd', mod: true });
    hook.rerender({ mode: 'edit' });
    press({ key: 'd', mod: true });
    expect(actions.duplicate).toHaveBeenCalledTimes(1);
  });
});

describe('the keyboard help', () => {
  it('lists exactly the shortcuts, in order', () => {
    render(<HelpPopover onClose={() => undefined} />);
    const rows = within(screen.getByTestId('help-popover')).getAllByRole('row');
    expect(rows.map((row) => Array.from(row.querySelectorAll('td'), (cell) => cell.textContent))).toEqual(
      SHORTCUTS.map((s) => [s.keys, s.does]),
    );
  });
});
