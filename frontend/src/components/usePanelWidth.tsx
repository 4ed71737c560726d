// A side panel whose width people set by dragging its left edge (kept per panel in
// localStorage), and which folds to a slim bar: two panels open at once covered most of the
// canvas at their fixed widths.

import { useCallback, useState, type CSSProperties, type PointerEvent as ReactPointerEvent, type ReactNode } from 'react';

const MIN = 240;

function stored(key: string, fallback: number): number {
  try {
    const value = Number(localStorage.getItem(`flow.panelWidth.${key}`));
    return Number.isFinite(value) && value >= MIN ? value : fallback;
  } catch {
    return fallback;
  }
}

export interface PanelWidth {
  /** the panel's width (unset: the stylesheet's) */
  style: CSSProperties;
  /** the grip on the panel's left edge: drag it, or focus it and press ← / → */
  grip: ReactNode;
}

export function usePanelWidth(key: string, fallback: number): PanelWidth {
  const [width, setWidth] = useState<number | null>(() => {
    const found = stored(key, -1);
    return found > 0 ? found : null;
  });
  const save = useCallback(
    (next: number) => {
      const max = Math.max(MIN, Math.round(window.innerWidth * 0.7));
      const clamped = Math.min(max, Math.max(MIN, Math.round(next)));
      setWidth(clamped);
      try {
        localStorage.setItem(`flow.panelWidth.${key}`, String(clamped));
      } catch {
        /* private mode: the width lasts this page */
      }
    },
    [key],
  );
  const onPointerDown = (event: ReactPointerEvent<HTMLDivElement>) => {
    event.preventDefault();
    const panel = (event.currentTarget.parentElement as HTMLElement | null)?.getBoundingClientRect();
    if (!panel) return;
    const right = panel.right;
    const move = (e: PointerEvent) => save(right - e.clientX);
    const up = () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  };
  const current = width ?? fallback;
  const grip = (
    <div
      className="panel-grip"
      role="separator"
      aria-orientation="vertical"
      aria-label="Resize the panel"
      aria-valuenow={current}
      tabIndex={0}
      data-testid={`panel-grip-${key}`}
      onPointerDown={onPointerDown}
      onDoubleClick={() => save(fallback)}
      onKeyDown={(e) => {
        if (e.key === 'ArrowLeft') save(current + 24);
        if (e.key === 'ArrowRight') save(current - 24);
      }}
    />
  );
  return { style: width ? { width } : {}, grip };
}
