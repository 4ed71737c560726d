import { getViewportForBounds } from '@xyflow/react';
import { describe, expect, it } from 'vitest';
import { fitPadding, MINIMAP } from './fit';

const PANE = { width: 880, height: 748 };

/** The screen rectangle the flow takes after fitting `bounds` with the padding fitPadding picks. */
function fitted(bounds: { x: number; y: number; width: number; height: number }) {
  const padding = fitPadding(bounds, PANE.width, PANE.height, 0.15);
  const v = getViewportForBounds(bounds, PANE.width, PANE.height, 0.15, 1, padding);
  return { left: v.x + bounds.x * v.zoom, top: v.y + bounds.y * v.zoom, right: v.x + (bounds.x + bounds.width) * v.zoom, bottom: v.y + (bounds.y + bounds.height) * v.zoom, zoom: v.zoom };
}

/** React Flow's zoom controls: three 26 px buttons in the bottom-left corner, 15 px from the edges */
function clearOfControls(box: ReturnType<typeof fitted>): boolean {
  return box.left >= 15 + 26 || box.bottom <= PANE.height - 15 - 3 * 27;
}

function clearOfMinimap(box: ReturnType<typeof fitted>): boolean {
  const mapLeft = PANE.width - MINIMAP.margin - MINIMAP.width;
  const mapTop = PANE.height - MINIMAP.margin - MINIMAP.height;
  return box.right <= mapLeft || box.bottom <= mapTop;
}

describe('fit view', () => {
  it('keeps a wide flow clear of the mini map by leaving room below it', () => {
    const box = fitted({ x: 0, y: -80, width: 1466, height: 250 });
    expect(clearOfMinimap(box)).toBe(true);
    expect(clearOfControls(box)).toBe(true);
    expect(box.right).toBeGreaterThan(PANE.width - MINIMAP.width); // it did not give up the width too
  });

  it('keeps a tall flow clear of the mini map by leaving room beside it', () => {
    const box = fitted({ x: 0, y: 0, width: 300, height: 3000 });
    expect(clearOfMinimap(box)).toBe(true);
    expect(clearOfControls(box)).toBe(true);
    expect(box.bottom).toBeGreaterThan(PANE.height - MINIMAP.height);
  });

  it('keeps a flow that fills the pane clear of it too, and of the zoom controls on the left', () => {
    for (const bounds of [
      { x: 0, y: 0, width: 880, height: 748 },
      { x: -500, y: 200, width: 5000, height: 4000 },
    ]) {
      const box = fitted(bounds);
      expect(clearOfMinimap(box)).toBe(true);
      expect(clearOfControls(box)).toBe(true);
    }
  });

  it('shows a small flow at its real size, not blown up', () => {
    expect(fitted({ x: 0, y: 0, width: 250, height: 90 }).zoom).toBe(1);
  });
});
