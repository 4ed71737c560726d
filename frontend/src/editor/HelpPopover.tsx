// The keyboard help, a popover under its toolbar button; Escape or a click outside closes it.

import { useEffect, useRef } from 'react';
import { SHORTCUTS } from './shortcuts';

export function HelpPopover({ onClose }: { onClose: () => void }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    const onDown = (e: PointerEvent) => {
      const el = e.target as HTMLElement;
      if (ref.current && !ref.current.contains(el) && !el.closest?.('[data-help-toggle]')) onClose();
    };
    window.addEventListener('keydown', onKey);
    window.addEventListener('pointerdown', onDown);
    return () => {
      window.removeEventListener('keydown', onKey);
      window.removeEventListener('pointerdown', onDown);
    };
  }, [onClose]);
  return (
    <div className="popover help-popover" role="dialog" aria-label="Keyboard shortcuts" tabIndex={-1} ref={ref} data-testid="help-popover">
      <h2>Keyboard shortcuts</h2>
      <table>
        <tbody>
          {SHORTCUTS.map((s) => (
            <tr key={s.does}>
              <td>
                <kbd>{s.keys}</kbd>
              </td>
              <td>{s.does}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">
        Connect by dragging from a handle on the right of a node to one on the left of another. A manager’s violet handle at the
        bottom delegates to workers (their top handle); a map’s or a loop’s “body” handle goes to the one node it runs per item or
        iteration, of any type. Refused connections turn red while you drag.
      </p>
    </div>
  );
}
