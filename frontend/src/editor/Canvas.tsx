// The React Flow canvas. Editing callbacks are optional: without them it is the read-only
// canvas of the run view and of a version preview.

import {
  applyNodeChanges,
  Background,
  BackgroundVariant,
  ConnectionMode,
  Controls,
  MiniMap,
  Panel,
  ReactFlow,
  useReactFlow,
  type Connection,
  type EdgeChange,
  type EdgeTypes,
  type NodeChange,
  type NodeMouseHandler,
  type NodeTypes,
  type OnBeforeDelete,
} from '@xyflow/react';
import { useCallback, useEffect, useRef, useState, type DragEvent, type ReactNode } from 'react';
import type { LinkEdge, StepNode } from '../graph/convert';
import type { Verdict } from '../graph/rules';
import { useCanvasInfo } from './canvasContext';
import { ConnectionLine, DelegateEdge, FlowEdge } from './LinkEdges';
import { DRAG_TYPE } from './Palette';
import { StepNodeCard } from './StepNodeCard';

// module scope: React Flow re-creates every node when these objects change identity
const nodeTypes: NodeTypes = { step: StepNodeCard };
const edgeTypes: EdgeTypes = { flow: FlowEdge, delegate: DelegateEdge };

export const GRID = 16;
// the mini map paints with inline fills, so its colours live here rather than in CSS
const CATEGORY_COLOUR: Record<string, string> = { io: '#7dd3fc', ai: '#c4b5fd', logic: '#fcd34d', human: '#6ee7b7' };
const STATUS_COLOUR: Record<string, string> = { running: '#2563eb', succeeded: '#47cd89', failed: '#d92d20', waiting: '#f79009' };
const FIT_OPTIONS = { padding: 0.2, maxZoom: 1.2 };
/** Where a dropped node's top-left goes relative to the pointer (about half a card). */
const DROP_OFFSET = { x: 108, y: 36 };

export interface CanvasEditing {
  onNodesChange: (changes: NodeChange<StepNode>[]) => void;
  onEdgesChange: (changes: EdgeChange<LinkEdge>[]) => void;
  check: (connection: Connection | LinkEdge) => Verdict;
  connect: (connection: Connection) => Verdict;
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

export function Canvas({ nodes, edges, editing, snap = true, onNodeClick, onPaneClick, onRefused, overlay }: CanvasProps) {
  const info = useCanvasInfo();
  const { screenToFlowPosition } = useReactFlow();
  const wrapper = useRef<HTMLDivElement>(null);
  const [hint, setHint] = useState<string | null>(null);
  const hintRef = useRef<string | null>(null);
  const readOnly = !editing || info.readOnly;
  // Fit the view once, to the nodes the canvas opens with. React Flow fits again whenever this prop
  // turns true, so deriving it from the node count would zoom and re-centre the view under the
  // pointer as soon as the first node is dropped on an empty canvas.
  const [fitOnOpen] = useState(() => nodes.length > 0);

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
      const verdict = editing.check(connection);
      showHint(verdict.ok ? null : (verdict.message ?? 'Not allowed'));
      return verdict.ok;
    },
    [editing],
  );

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
      <ReactFlow<StepNode, LinkEdge>
        nodes={editing ? nodes : shownNodes}
        edges={edges}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        onNodesChange={editing ? editing.onNodesChange : onReadOnlyNodesChange}
        onEdgesChange={editing?.onEdgesChange}
        onConnect={readOnly ? undefined : onConnect}
        onConnectEnd={() => showHint(null)}
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
        fitView={fitOnOpen}
        fitViewOptions={FIT_OPTIONS}
        defaultViewport={{ x: 80, y: 80, zoom: 1 }}
        minZoom={0.15}
        maxZoom={2}
        attributionPosition="bottom-center"
        defaultEdgeOptions={{ interactionWidth: 18 }}
      >
        <Background variant={BackgroundVariant.Dots} gap={GRID} size={1.2} color="var(--grid-dot)" />
        <Controls showInteractive={false} position="bottom-left" />
        <MiniMap
          pannable
          zoomable
          position="bottom-right"
          ariaLabel="Mini map"
          nodeColor={(node) => {
            const status = info.run?.nodes[node.id]?.status;
            if (status && STATUS_COLOUR[status]) return STATUS_COLOUR[status];
            return CATEGORY_COLOUR[info.catalogue.get((node as StepNode).data.type)?.category ?? ''] ?? '#cbd5e1';
          }}
          nodeBorderRadius={6}
        />
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
    </div>
  );
}
