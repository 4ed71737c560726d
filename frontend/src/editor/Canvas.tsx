// The React Flow canvas. Editing callbacks are optional: without them it is the read-only
// canvas of the run view and of a version preview.

import {
  applyNodeChanges,
  Background,
  BackgroundVariant,
  ConnectionMode,
  Controls,
  getViewportForBounds,
  Panel,
  ReactFlow,
  useNodesInitialized,
  useReactFlow,
  useStore,
  type Connection,
  type EdgeChange,
  type EdgeTypes,
  type FinalConnectionState,
  type NodeChange,
  type NodeMouseHandler,
  type NodeTypes,
  type OnBeforeDelete,
  type ReactFlowState,
  type Viewport,
} from '@xyflow/react';
import { memo, useCallback, useEffect, useLayoutEffect, useRef, useState, type DragEvent, type ReactNode } from 'react';
import type { LinkEdge, StepNode } from '../graph/convert';
import type { Verdict } from '../graph/rules';
import { lowDetailSelector, useCanvasInfo } from './canvasContext';
import { FIT_MAX_ZOOM, fitPadding, useFit, useIsFitted } from './fit';
import { CanvasMiniMap } from './MiniMap';
import { ConnectionLine, DelegateEdge, EdgeMarkers, FlowEdge } from './LinkEdges';
import { DRAG_TYPE } from './Palette';
import { StepNodeCard } from './StepNodeCard';

// module scope: React Flow re-creates every node when these objects change identity
const nodeTypes: NodeTypes = { step: StepNodeCard };
const edgeTypes: EdgeTypes = { flow: FlowEdge, delegate: DelegateEdge };

export const GRID = 16;
const MIN_ZOOM = 0.15;
const DEFAULT_VIEW: Viewport = { x: 80, y: 80, zoom: 1 };
/** a card's size before it is measured: its width (CSS) and a typical height */
const CARD_ESTIMATE = { width: 216, height: 80 };

function estimatedFit(nodes: StepNode[], width: number, height: number, minZoom: number): Viewport {
  if (!nodes.length || width <= 0 || height <= 0) return DEFAULT_VIEW;
  const xs = nodes.map((n) => n.position.x);
  const ys = nodes.map((n) => n.position.y);
  const x = Math.min(...xs);
  const y = Math.min(...ys);
  const bounds = { x, y, width: Math.max(...xs) + CARD_ESTIMATE.width - x, height: Math.max(...ys) + CARD_ESTIMATE.height - y };
  return getViewportForBounds(bounds, width, height, minZoom, FIT_MAX_ZOOM, fitPadding(bounds, width, height, minZoom));
}

/** Where a dropped node's top-left goes relative to the pointer (about half a card). */
const DROP_OFFSET = { x: 108, y: 36 };

export interface CanvasEditing {
  onNodesChange: (changes: NodeChange<StepNode>[]) => void;
  onEdgesChange: (changes: EdgeChange<LinkEdge>[]) => void;
  check: (connection: Connection | LinkEdge) => Verdict;
  connect: (connection: Connection) => Verdict;
  /** moving one end of an existing edge: the rules of a new connection, minus the edge itself */
  checkReconnect: (edge: LinkEdge, connection: Connection | LinkEdge) => Verdict;
  reconnect: (edge: LinkEdge, connection: Connection) => Verdict;
  beforeChange: () => void;
  addNode: (type: string, position: { x: number; y: number }) => string | null;
}

export interface CanvasProps {
  nodes: StepNode[];
  edges: LinkEdge[];
  editing?: CanvasEditing;
  snap?: boolean;
  onNodeClick?: NodeMouseHandler<StepNode>;
  onPaneClick?: () => void;
  onRefused?: (message: string) => void;
  overlay?: ReactNode;
}

// Memoised: in the run view the page re-renders on every batch of events, and the canvas's own
// props (nodes, edges) do not change then; only the cards and edges whose run state changed do.
export const Canvas = memo(function Canvas({ nodes, edges, editing, snap = true, onNodeClick, onPaneClick, onRefused, overlay }: CanvasProps) {
  const info = useCanvasInfo();
  const { screenToFlowPosition } = useReactFlow();
  const wrapper = useRef<HTMLDivElement>(null);
  const [hint, setHint] = useState<string | null>(null);
  const hintRef = useRef<string | null>(null);
  const readOnly = !editing || info.readOnly;
  const low = useStore(lowDetailSelector);
  // Fit the view once, to the nodes the canvas opens with (not when the first node is dropped on
  // an empty canvas: that would zoom and re-centre the view under the pointer).
  const [fitOnOpen] = useState(() => nodes.length > 0);
  // The view it opens with, from the node positions and the pane's size (measured before React
  // Flow mounts): close to the fit made once the cards are measured, so the cards are drawn at
  // their final level of detail from the start. Opening at zoom 1 and fitting afterwards drew
  // 1,000 full cards, then all of them again in low detail.
  const [openingView, setOpeningView] = useState<Viewport | null>(null);
  useLayoutEffect(() => {
    const box = wrapper.current?.getBoundingClientRect();
    setOpeningView(fitOnOpen && box ? estimatedFit(nodes, box.width, box.height, MIN_ZOOM) : DEFAULT_VIEW);
    // once, on mount: later changes are React Flow's to draw
  }, []);
  // the edge whose end is being dragged to another handle, while it is
  const reconnecting = useRef<LinkEdge | null>(null);

  // Read-only canvases keep React Flow's measurements and selection in a local copy: the mini
  // map and selection need them, and the graph they show must not change.
  const [shownNodes, setShownNodes] = useState(nodes);
  useEffect(() => setShownNodes(nodes), [nodes]);
  const onReadOnlyNodesChange = useCallback(
    (changes: NodeChange<StepNode>[]) =>
      setShownNodes((current) => applyNodeChanges(changes.filter((c) => c.type === 'dimensions' || c.type === 'select'), current)),
    [],
  );

  const showHint = (message: string | null) => {
    if (hintRef.current !== message) {
      hintRef.current = message;
      setHint(message);
    }
  };

  const isValidConnection = useCallback(
    (connection: Connection | LinkEdge) => {
      if (!editing) return false;
      const moving = reconnecting.current;
      const verdict = moving ? editing.checkReconnect(moving, connection) : editing.check(connection);
      showHint(verdict.ok ? null : (verdict.message ?? 'Not allowed'));
      return verdict.ok;
    },
    [editing],
  );

  const onReconnectStart = useCallback((_event: unknown, edge: LinkEdge) => {
    reconnecting.current = edge;
  }, []);
  const onReconnect = useCallback(
    (edge: LinkEdge, connection: Connection) => {
      if (!editing) return;
      const verdict = editing.reconnect(edge, connection);
      if (!verdict.ok && verdict.message) onRefused?.(verdict.message);
    },
    [editing, onRefused],
  );
  const onReconnectEnd = useCallback((_event: unknown, _edge: LinkEdge, _handle: unknown, _state: FinalConnectionState) => {
    // dropped anywhere but on a handle that takes it: the edge stays as it was
    reconnecting.current = null;
    showHint(null);
  }, []);

  const onConnect = useCallback(
    (connection: Connection) => {
      if (!editing) return;
      const verdict = editing.connect(connection);
      if (!verdict.ok && verdict.message) onRefused?.(verdict.message);
    },
    [editing, onRefused],
  );

  const onBeforeDelete: OnBeforeDelete<StepNode, LinkEdge> = useCallback(
    async ({ nodes: goingNodes, edges: goingEdges }) => {
      if (!editing || (!goingNodes.length && !goingEdges.length)) return false;
      editing.beforeChange(); // one undo step for the nodes and their edges together
      return true;
    },
    [editing],
  );

  const onDragOver = (event: DragEvent) => {
    if (readOnly) return;
    if (Array.from(event.dataTransfer.types).includes(DRAG_TYPE)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = 'move';
    }
  };

  const onDrop = (event: DragEvent) => {
    if (!editing || readOnly) return;
    const type = event.dataTransfer.getData(DRAG_TYPE);
    if (!type) return;
    event.preventDefault();
    const point = screenToFlowPosition({ x: event.clientX, y: event.clientY });
    let position = { x: point.x - DROP_OFFSET.x, y: point.y - DROP_OFFSET.y };
    if (snap) position = { x: Math.round(position.x / GRID) * GRID, y: Math.round(position.y / GRID) * GRID };
    editing.addNode(type, position);
  };

  return (
    <div className={`canvas${readOnly ? ' canvas-readonly' : ''}`} ref={wrapper} onDragOver={onDragOver} onDrop={onDrop} data-testid="canvas">
      <EdgeMarkers />
      {openingView && (
        <ReactFlow<StepNode, LinkEdge>
          nodes={editing ? nodes : shownNodes}
          edges={edges}
          nodeTypes={nodeTypes}
          edgeTypes={edgeTypes}
          onNodesChange={editing ? editing.onNodesChange : onReadOnlyNodesChange}
          onEdgesChange={editing?.onEdgesChange}
          onConnect={readOnly ? undefined : onConnect}
          onConnectEnd={() => showHint(null)}
          edgesReconnectable={!readOnly}
          onReconnectStart={readOnly ? undefined : onReconnectStart}
          onReconnect={readOnly ? undefined : onReconnect}
          onReconnectEnd={readOnly ? undefined : onReconnectEnd}
          isValidConnection={isValidConnection}
          onBeforeDelete={readOnly ? undefined : onBeforeDelete}
          onNodeDragStart={readOnly ? undefined : () => editing?.beforeChange()}
          onSelectionDragStart={readOnly ? undefined : () => editing?.beforeChange()}
          onNodeClick={onNodeClick}
          onPaneClick={onPaneClick}
          connectionLineComponent={ConnectionLine}
          connectionMode={ConnectionMode.Strict}
          connectionRadius={28}
          deleteKeyCode={readOnly ? null : ['Delete', 'Backspace']}
          multiSelectionKeyCode={['Meta', 'Control']}
          selectionKeyCode="Shift"
          nodesDraggable={!readOnly}
          nodesConnectable={!readOnly}
          elementsSelectable
          snapToGrid={snap}
          snapGrid={[GRID, GRID]}
          defaultViewport={openingView ?? DEFAULT_VIEW}
          minZoom={MIN_ZOOM}
          maxZoom={2}
          attributionPosition="bottom-center"
          defaultEdgeOptions={{ interactionWidth: 18 }}
        >
          {/* Zoomed far out the grid's dots were 2–8 px apart, tens of thousands of them painted on
              every frame of a pan; a coarser grid there keeps the sense of motion for little. */}
          <Background variant={BackgroundVariant.Dots} gap={low ? GRID * 8 : GRID} size={low ? 1.6 : 1.2} color="var(--grid-dot)" />
          <Controls showInteractive={false} position="bottom-left" />
          <CanvasMiniMap info={info} />
          <ViewFitting fitOnOpen={fitOnOpen} />
          {hint && (
            <Panel position="top-center">
              <div className="connect-hint" role="status" data-testid="connect-hint">
                {hint}
              </div>
            </Panel>
          )}
          {nodes.length === 0 && !readOnly && (
            <Panel position="top-center" className="canvas-empty-panel">
              <div className="canvas-empty" data-testid="canvas-empty">
                <strong>An empty canvas.</strong> Drag a node from the palette, or press one to add it. Start with an{' '}
                <em>Input</em>, end with an <em>Output</em>.
              </div>
            </Panel>
          )}
          {overlay}
        </ReactFlow>
      )}
    </div>
  );
});

const sizeSelector = (state: ReactFlowState) => `${state.width}x${state.height}`;

/**
 * Fits the view once the nodes it opens with are measured, and fits again when the pane changes
 * size (a side panel opening or closing) if the view was still as fitted: otherwise the settings
 * panel that opens on a click would hide the right part of a flow that was just fitted.
 */
function ViewFitting({ fitOnOpen }: { fitOnOpen: boolean }) {
  const fit = useFit();
  const isFitted = useIsFitted();
  const initialised = useNodesInitialized();
  const size = useStore(sizeSelector);
  const done = useRef(!fitOnOpen);
  const lastSize = useRef(size);

  // before paint: the flow is never drawn unfitted first (nor fitted to a pane not measured yet)
  const measured = size !== '0x0';
  useLayoutEffect(() => {
    if (done.current || !initialised || !measured) return;
    done.current = true;
    lastSize.current = size;
    fit();
  }, [initialised, measured, size, fit]);

  useEffect(() => {
    if (lastSize.current === size) return;
    lastSize.current = size;
    if (isFitted()) fit({ duration: 150 });
  }, [size, fit, isFitted]);
  return null;
}
