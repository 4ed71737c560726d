// The canvas's mini map: every node as a rectangle in its category's colour (in a run, its
// status's), the visible part of the canvas as a window in a grey mask; drag it to pan, scroll on
// it to zoom.
//
// React Flow's own MiniMap draws each node through a component of its own with its own store
// subscription: at 1,000 nodes it took about a third of the time to open the canvas, and each of
// those 1,000 subscriptions ran on every frame of a pan. This one draws one SVG path per colour,
// rebuilt when the nodes (or, in a run, their statuses) change, and re-renders only its window
// while the view moves.

import { Panel, useReactFlow, useStore, type ReactFlowState } from '@xyflow/react';
import { useEffect, useMemo, useRef, useState, type PointerEvent, type WheelEvent } from 'react';
import type { StepNode } from '../graph/convert';
import type { RunStore } from '../run/liveStore';
import type { CanvasInfo } from './canvasContext';
import { MINIMAP } from './fit';

// the mini map paints with inline fills, so its colours live here rather than in CSS
const CATEGORY_COLOUR: Record<string, string> = { io: '#7dd3fc', ai: '#c4b5fd', logic: '#fcd34d', human: '#6ee7b7' };
const STATUS_COLOUR: Record<string, string> = { running: '#2563eb', succeeded: '#47cd89', failed: '#d92d20', waiting: '#f79009', reused: '#2ed3b7' };
const OTHER = '#cbd5e1';
/** Colours of the nodes in a run change at most this often: each change redraws them all. */
const REFRESH_MS = 250;
/** space around the drawing, in mini-map pixels (React Flow's offsetScale) */
const OFFSET = 5;

interface View {
  x: number;
  y: number;
  zoom: number;
  width: number;
  height: number;
}
const viewSelector = (s: ReactFlowState): View => ({ x: s.transform[0], y: s.transform[1], zoom: s.transform[2], width: s.width, height: s.height });
const sameView = (a: View, b: View) => a.x === b.x && a.y === b.y && a.zoom === b.zoom && a.width === b.width && a.height === b.height;
const nodesSelector = (s: ReactFlowState) => s.nodes as StepNode[];

/** The run's status version, followed at most every REFRESH_MS. */
function useThrottledStatusVersion(store: RunStore | null): number {
  const [version, setVersion] = useState(0);
  useEffect(() => {
    if (!store) return;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const unsubscribe = store.subscribeStatuses(() => {
      timer ??= setTimeout(() => {
        timer = null;
        setVersion(store.version());
      }, REFRESH_MS);
    });
    setVersion(store.version());
    return () => {
      unsubscribe();
      if (timer !== null) clearTimeout(timer);
    };
  }, [store]);
  return version;
}

interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

function union(a: Rect | null, b: Rect): Rect {
  if (!a) return b;
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, width: Math.max(a.x + a.width, b.x + b.width) - x, height: Math.max(a.y + a.height, b.y + b.height) - y };
}

export function CanvasMiniMap({ info }: { info: CanvasInfo }) {
  const { run, catalogue } = info;
  const nodes = useStore(nodesSelector);
  const view = useStore(viewSelector, sameView);
  const version = useThrottledStatusVersion(run);
  const flow = useReactFlow();

  // one path per colour; nodes not measured yet are left out, as React Flow's mini map does
  const drawing = useMemo(() => {
    const paths = new Map<string, string[]>();
    let bounds: Rect | null = null;
    for (const node of nodes) {
      const width = node.measured?.width ?? node.width;
      const height = node.measured?.height ?? node.height;
      if (node.hidden || !width || !height) continue;
      const { x, y } = node.position; // no parent nodes in our graphs: positions are absolute
      const status = run && version >= 0 ? run.node(node.id).status : null;
      const colour = (status && STATUS_COLOUR[status]) || CATEGORY_COLOUR[catalogue.get(node.data.type)?.category ?? ''] || OTHER;
      const list = paths.get(colour);
      const d = `M${x},${y}h${width}v${height}h${-width}z`;
      if (list) list.push(d);
      else paths.set(colour, [d]);
      bounds = union(bounds, { x, y, width, height });
    }
    return { paths: [...paths].map(([colour, parts]) => [colour, parts.join('')] as const), bounds };
  }, [nodes, run, catalogue, version]);

  // the part of the flow in view, in flow coordinates
  const inView: Rect = { x: -view.x / view.zoom, y: -view.y / view.zoom, width: view.width / view.zoom, height: view.height / view.zoom };
  const shown = drawing.bounds ? union(drawing.bounds, inView) : inView;
  const viewScale = Math.max(shown.width / MINIMAP.width, shown.height / MINIMAP.height);
  const offset = OFFSET * viewScale;
  const boxWidth = viewScale * MINIMAP.width + offset * 2;
  const boxHeight = viewScale * MINIMAP.height + offset * 2;
  const boxX = shown.x - (viewScale * MINIMAP.width - shown.width) / 2 - offset;
  const boxY = shown.y - (viewScale * MINIMAP.height - shown.height) / 2 - offset;

  // dragging moves the window: the view follows, one mini-map pixel being viewScale flow units
  const drag = useRef<{ x: number; y: number } | null>(null);
  const scale = useRef(viewScale);
  scale.current = viewScale;
  const onPointerDown = (event: PointerEvent<SVGSVGElement>) => {
    if (event.button !== 0) return;
    event.currentTarget.setPointerCapture(event.pointerId);
    drag.current = { x: event.clientX, y: event.clientY };
  };
  const onPointerMove = (event: PointerEvent<SVGSVGElement>) => {
    if (!drag.current) return;
    const dx = event.clientX - drag.current.x;
    const dy = event.clientY - drag.current.y;
    drag.current = { x: event.clientX, y: event.clientY };
    const now = flow.getViewport();
    void flow.setViewport({ x: now.x - dx * scale.current * now.zoom, y: now.y - dy * scale.current * now.zoom, zoom: now.zoom });
  };
  const onPointerUp = (event: PointerEvent<SVGSVGElement>) => {
    drag.current = null;
    if (event.currentTarget.hasPointerCapture(event.pointerId)) event.currentTarget.releasePointerCapture(event.pointerId);
  };
  const onWheel = (event: WheelEvent<SVGSVGElement>) => {
    const step = event.deltaMode === 1 ? 0.05 : event.deltaMode ? 1 : 0.002;
    void flow.zoomTo(flow.getZoom() * Math.pow(2, -event.deltaY * step));
  };

  return (
    <Panel position="bottom-right" className="react-flow__minimap" style={{ width: MINIMAP.width, height: MINIMAP.height }}>
      <svg
        width={MINIMAP.width}
        height={MINIMAP.height}
        viewBox={`${boxX} ${boxY} ${boxWidth} ${boxHeight}`}
        className="react-flow__minimap-svg nopan nowheel"
        role="img"
        aria-label="Mini map"
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerCancel={onPointerUp}
        onWheel={onWheel}
      >
        {drawing.paths.map(([colour, d]) => (
          <path key={colour} className="react-flow__minimap-node" d={d} style={{ fill: colour, stroke: 'none' }} shapeRendering="crispEdges" />
        ))}
        <path
          className="react-flow__minimap-mask"
          d={`M${boxX - offset},${boxY - offset}h${boxWidth + offset * 2}v${boxHeight + offset * 2}h${-boxWidth - offset * 2}z
            M${inView.x},${inView.y}h${inView.width}v${inView.height}h${-inView.width}z`}
          fillRule="evenodd"
          pointerEvents="none"
        />
      </svg>
    </Panel>
  );
}
