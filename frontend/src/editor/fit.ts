// "Fit view" that leaves the mini map and the zoom controls uncovered.
//
// React Flow's fit centres the flow in the whole pane, so the mini map (bottom right) and the
// controls (bottom left) could sit on top of a node right after fitting. Here the fit keeps a
// margin around the flow and reserves the mini map's corner either as a strip on the right or
// as one along the bottom, whichever costs less zoom: a wide flow has height to spare, a tall one
// width.

import { getViewportForBounds, useReactFlow, useStoreApi, type Rect, type Viewport } from '@xyflow/react';
import { useCallback } from 'react';
import type { StepNode } from '../graph/convert';

/** Fitting never zooms in further than 1:1: a small flow shows at its real size. */
export const FIT_MAX_ZOOM = 1;
/** The mini map's size on screen (MiniMap's width and height props) and its distance from the edges. */
export const MINIMAP = { width: 180, height: 120, margin: 15 };
const MARGIN = 24;
/** the zoom controls take the bottom-left corner (26 × 80 px, 15 px from the edges) */
const LEFT = 56;
const GAP = 12;

export interface FitPadding {
  top: `${number}px`;
  right: `${number}px`;
  bottom: `${number}px`;
  left: `${number}px`;
}

function px(value: number): `${number}px` {
  return `${value}px`;
}

/** The padding for fitting `bounds` into a pane of width × height. */
export function fitPadding(bounds: Rect, width: number, height: number, minZoom: number, maxZoom = FIT_MAX_ZOOM): FitPadding {
  const right: FitPadding = { top: px(MARGIN), right: px(MINIMAP.width + MINIMAP.margin + GAP), bottom: px(MARGIN), left: px(LEFT) };
  // the strip along the bottom clears the controls too: they are shorter than the mini map
  const below: FitPadding = { top: px(MARGIN), right: px(MARGIN), bottom: px(MINIMAP.height + MINIMAP.margin + GAP), left: px(MARGIN) };
  if (width <= 0 || height <= 0 || bounds.width <= 0 || bounds.height <= 0) return below;
  const zoomRight = getViewportForBounds(bounds, width, height, minZoom, maxZoom, right).zoom;
  const zoomBelow = getViewportForBounds(bounds, width, height, minZoom, maxZoom, below).zoom;
  return zoomRight > zoomBelow ? right : below;
}

// the viewport each canvas was last fitted to: a fit is redone on a resize only if the view is
// still there, not after the user panned or zoomed. Keyed by the store's getState, the one part
// of useStoreApi()'s answer that is the same object in every component.
const lastFit = new WeakMap<object, Viewport>();

export interface FitOptions {
  duration?: number;
  /** fit these nodes only (default: all) */
  nodes?: string[];
}

/** A stable function that fits the view to every node (or to `nodes`) as described above. */
export function useFit(): (options?: FitOptions) => void {
  const flow = useReactFlow<StepNode>();
  const store = useStoreApi<StepNode>();
  return useCallback(
    (options: FitOptions = {}) => {
      const { width, height, minZoom } = store.getState();
      const wanted = options.nodes ? new Set(options.nodes) : null;
      const nodes = flow.getNodes().filter((n) => !wanted || wanted.has(n.id));
      if (!nodes.length || !width || !height) return;
      const bounds = flow.getNodesBounds(nodes);
      const viewport = getViewportForBounds(bounds, width, height, minZoom, FIT_MAX_ZOOM, fitPadding(bounds, width, height, minZoom));
      if (!wanted) lastFit.set(store.getState, viewport);
      void flow.setViewport(viewport, { duration: options.duration });
    },
    [flow, store],
  );
}

/** Whether the view is where the last fit of the whole flow put it. */
export function useIsFitted(): () => boolean {
  const flow = useReactFlow<StepNode>();
  const store = useStoreApi<StepNode>();
  return useCallback(() => {
    const fitted = lastFit.get(store.getState);
    if (!fitted) return false;
    const now = flow.getViewport();
    return Math.abs(now.x - fitted.x) < 0.5 && Math.abs(now.y - fitted.y) < 0.5 && Math.abs(now.zoom - fitted.zoom) < 1e-3;
  }, [flow, store]);
}
