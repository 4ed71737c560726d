// The editor's document: React Flow nodes and edges, every change that matters recorded in the
// undo history as the graph JSON before it, and the dirty flag as "differs from what was saved".

import { applyEdgeChanges, applyNodeChanges, type Connection, type EdgeChange, type NodeChange, type XYPosition } from '@xyflow/react';
import { useCallback, useMemo, useRef, useState } from 'react';
import type { Graph, NodeTypeSpec } from '../api/graph';
import { copyFragment, pasteFragment, type Fragment } from '../graph/clipboard';
import { flowToGraph, fromFlowEdge, graphKey, normaliseGraph, toFlowEdge, toFlowNode, type LinkEdge, type StepNode } from '../graph/convert';
import { remapHandles } from '../graph/handles';
import { nextEdgeId, nextId } from '../graph/ids';
import type { Size } from '../graph/size';
import { checkConnection, checkReconnection, edgeFromConnection, type Verdict } from '../graph/rules';
import { canRedo, canUndo, createHistory, record, redo as redoHistory, undo as undoHistory, type HistoryState } from './history';
import { initialConfig } from './schema/resolve';

export const EMPTY_GRAPH: Graph = { nodes: [], edges: [] };

export interface GraphEditor {
  nodes: StepNode[];
  edges: LinkEdge[];
  graph: Graph;
  dirty: boolean;
  canUndo: boolean;
  canRedo: boolean;
  reset: (graph: Graph) => void;
  replace: (graph: Graph) => void;
  markSaved: (graph: Graph) => void;
  onNodesChange: (changes: NodeChange<StepNode>[]) => void;
  onEdgesChange: (changes: EdgeChange<LinkEdge>[]) => void;
  beforeChange: (key?: string | null) => void;
  check: (connection: Connection | LinkEdge) => Verdict;
  connect: (connection: Connection) => Verdict;
  checkReconnect: (edge: LinkEdge, connection: Connection | LinkEdge) => Verdict;
  /** moves an end of `edge` to the handles of `connection` (one undo step); refused like a new connection */
  reconnect: (edge: LinkEdge, connection: Connection) => Verdict;
  addNode: (type: string, position: XYPosition) => string | null;
  updateNode: (id: string, patch: { label?: string; config?: Record<string, unknown> }, key?: string) => void;
  remove: (nodeIds: string[], edgeIds: string[]) => void;
  copySelection: () => Fragment | null;
  paste: (fragment: Fragment) => string[];
  selectAll: () => void;
  selectOnly: (nodeIds: string[]) => void;
  undo: () => void;
  redo: () => void;
  layout: (sizes: Record<string, Size | undefined>) => Promise<void>;
}

function mergeNodes(graph: Graph, existing: StepNode[]): StepNode[] {
  const byId = new Map(existing.map((n) => [n.id, n]));
  return graph.nodes.map((node) => {
    const fresh = toFlowNode(node);
    const old = byId.get(node.id);
    return old ? { ...old, position: fresh.position, data: fresh.data } : fresh;
  });
}

/** Whether two lists hold the same nodes as far as the graph is concerned (ids, positions and
 * data by identity: changing them makes new objects), whatever React Flow added meanwhile. */
function sameNodes(a: StepNode[], b: StepNode[]): boolean {
  if (a === b) return true;
  return a.length === b.length && a.every((x, i) => x === b[i] || (x.id === b[i].id && x.data === b[i].data && x.position === b[i].position));
}

/** The same for edges: ids, ends and kind. */
function sameEdges(a: LinkEdge[], b: LinkEdge[]): boolean {
  if (a === b) return true;
  return (
    a.length === b.length &&
    a.every((x, i) => {
      const y = b[i];
      return x === y || (x.id === y.id && x.source === y.source && x.target === y.target && x.sourceHandle === y.sourceHandle && x.targetHandle === y.targetHandle && x.data === y.data && x.type === y.type);
    })
  );
}

export function useGraphEditor(catalogue: ReadonlyMap<string, NodeTypeSpec>): GraphEditor {
  const [nodes, setNodesState] = useState<StepNode[]>([]);
  const [edges, setEdgesState] = useState<LinkEdge[]>([]);
  const [history, setHistory] = useState<HistoryState<Graph>>(() => createHistory<Graph>(200));
  const [savedKey, setSavedKey] = useState(() => graphKey(EMPTY_GRAPH));
  const nodesRef = useRef(nodes);
  const edgesRef = useRef(edges);
  const historyRef = useRef(history);
  const catalogueRef = useRef(catalogue);
  catalogueRef.current = catalogue;

  const setNodes = useCallback((next: StepNode[]) => {
    nodesRef.current = next;
    setNodesState(next);
  }, []);
  const setEdges = useCallback((next: LinkEdge[]) => {
    edgesRef.current = next;
    setEdgesState(next);
  }, []);
  const setHist = useCallback((next: HistoryState<Graph>) => {
    historyRef.current = next;
    setHistory(next);
  }, []);
  const current = useCallback(() => flowToGraph(nodesRef.current, edgesRef.current), []);

  const beforeChange = useCallback(
    (key: string | null = null) => setHist(record(historyRef.current, current(), key)),
    [current, setHist],
  );

  // The same graph object while only what React Flow adds changed (measurements, selection,
  // dragging flags): a new one would re-run everything keyed on it (the dirty check and the
  // validation key stringify the whole graph), and opening 1,000 nodes measures each of them.
  const graphMemo = useRef<{ nodes: StepNode[]; edges: LinkEdge[]; graph: Graph } | null>(null);
  const graph = useMemo(() => {
    const last = graphMemo.current;
    if (last && sameNodes(last.nodes, nodes) && sameEdges(last.edges, edges)) {
      graphMemo.current = { nodes, edges, graph: last.graph };
      return last.graph;
    }
    const next = flowToGraph(nodes, edges);
    graphMemo.current = { nodes, edges, graph: next };
    return next;
  }, [nodes, edges]);
  const dirty = useMemo(() => graphKey(graph) !== savedKey, [graph, savedKey]);

  const reset = useCallback(
    (next: Graph) => {
      const normal = normaliseGraph(next);
      setNodes(normal.nodes.map(toFlowNode));
      setEdges(normal.edges.map(toFlowEdge));
      setHist(createHistory<Graph>(200));
      setSavedKey(graphKey(normal));
    },
    [setEdges, setHist, setNodes],
  );

  const apply = useCallback(
    (next: Graph) => {
      setNodes(mergeNodes(next, nodesRef.current));
      setEdges(next.edges.map(toFlowEdge));
    },
    [setEdges, setNodes],
  );

  const replace = useCallback(
    (next: Graph) => {
      beforeChange();
      apply(normaliseGraph(next));
    },
    [apply, beforeChange],
  );

  const markSaved = useCallback((saved: Graph) => setSavedKey(graphKey(normaliseGraph(saved))), []);

  const onNodesChange = useCallback(
    (changes: NodeChange<StepNode>[]) => {
      // Nodes moved with the arrow keys arrive as position changes outside a drag (a drag's own
      // changes come while its nodes are flagged dragging, and its start is recorded already):
      // one undo step per burst of key presses.
      const keyboardMove =
        changes.some((c) => c.type === 'position' && c.position && !c.dragging) && !nodesRef.current.some((n) => n.dragging);
      if (keyboardMove) beforeChange('keyboard-move');
      setNodes(applyNodeChanges(changes, nodesRef.current));
    },
    [beforeChange, setNodes],
  );
  const onEdgesChange = useCallback(
    (changes: EdgeChange<LinkEdge>[]) => setEdges(applyEdgeChanges(changes, edgesRef.current)),
    [setEdges],
  );

  const check = useCallback(
    (connection: Connection | LinkEdge) => checkConnection(connection, current(), catalogueRef.current),
    [current],
  );

  const connect = useCallback(
    (connection: Connection) => {
      const graphNow = current();
      const verdict = checkConnection(connection, graphNow, catalogueRef.current);
      if (!verdict.ok || !verdict.kind) return verdict;
      beforeChange();
      const edge = edgeFromConnection(nextEdgeId(graphNow.edges.map((e) => e.id)), connection, verdict.kind);
      setEdges([...edgesRef.current, toFlowEdge(edge)]);
      return verdict;
    },
    [beforeChange, current, setEdges],
  );

  const checkReconnect = useCallback(
    (edge: LinkEdge, connection: Connection | LinkEdge) => checkReconnection(edge.id, connection, current(), catalogueRef.current),
    [current],
  );

  const reconnect = useCallback(
    (edge: LinkEdge, connection: Connection) => {
      const verdict = checkReconnection(edge.id, connection, current(), catalogueRef.current);
      if (!verdict.ok || !verdict.kind) return verdict;
      // same id: issues, selection and the run view's edge states keep following it
      const moved = toFlowEdge(edgeFromConnection(edge.id, connection, verdict.kind));
      if (JSON.stringify(fromFlowEdge(moved)) === JSON.stringify(fromFlowEdge(edge))) return verdict; // dropped where it was
      beforeChange();
      setEdges(edgesRef.current.map((e) => (e.id === edge.id ? { ...moved, selected: e.selected } : e)));
      return verdict;
    },
    [beforeChange, current, setEdges],
  );

  const addNode = useCallback(
    (type: string, position: XYPosition) => {
      const spec = catalogueRef.current.get(type);
      if (!spec) return null;
      const taken = nodesRef.current.map((n) => n.id);
      const id = nextId(type, taken);
      const sameType = nodesRef.current.filter((n) => n.data.type === type).length;
      beforeChange();
      const node: StepNode = {
        ...toFlowNode({
          id,
          type,
          label: sameType ? `${spec.label} ${sameType + 1}` : spec.label,
          position: { x: Math.round(position.x), y: Math.round(position.y) },
          config: initialConfig(spec.config_schema),
        }),
        selected: true,
      };
      setNodes([...nodesRef.current.map((n) => (n.selected ? { ...n, selected: false } : n)), node]);
      setEdges(edgesRef.current.map((e) => (e.selected ? { ...e, selected: false } : e)));
      return id;
    },
    [beforeChange, setEdges, setNodes],
  );

  const updateNode = useCallback(
    (id: string, patch: { label?: string; config?: Record<string, unknown> }, key?: string) => {
      const node = nodesRef.current.find((n) => n.id === id);
      if (!node) return;
      beforeChange(key ?? null);
      const data = { ...node.data, ...patch };
      setNodes(nodesRef.current.map((n) => (n.id === id ? { ...n, data } : n)));
      const spec = catalogueRef.current.get(node.data.type);
      if (patch.config && spec?.dynamic_outputs) {
        // routes renamed or removed: their edges follow or go
        const moves = remapHandles(spec, node.data.config, patch.config);
        if (moves.size) {
          const next: LinkEdge[] = [];
          for (const edge of edgesRef.current) {
            if (edge.source === id && edge.data?.kind !== 'delegate' && moves.has(edge.sourceHandle ?? 'out')) {
              const to = moves.get(edge.sourceHandle ?? 'out');
              if (to === null || to === undefined) continue;
              next.push({ ...edge, sourceHandle: to });
            } else next.push(edge);
          }
          setEdges(next);
        }
      }
    },
    [beforeChange, setEdges, setNodes],
  );

  const remove = useCallback(
    (nodeIds: string[], edgeIds: string[]) => {
      if (!nodeIds.length && !edgeIds.length) return;
      beforeChange();
      const gone = new Set(nodeIds);
      const goneEdges = new Set(edgeIds);
      setNodes(nodesRef.current.filter((n) => !gone.has(n.id)));
      setEdges(edgesRef.current.filter((e) => !goneEdges.has(e.id) && !gone.has(e.source) && !gone.has(e.target)));
    },
    [beforeChange, setEdges, setNodes],
  );

  const copySelection = useCallback(() => {
    const selected = nodesRef.current.filter((n) => n.selected).map((n) => n.id);
    if (!selected.length) return null;
    return copyFragment(current(), selected);
  }, [current]);

  const paste = useCallback(
    (fragment: Fragment) => {
      if (!fragment.nodes.length) return [];
      beforeChange();
      const pasted = pasteFragment(fragment, current());
      const fresh = new Set(pasted.ids);
      setNodes([
        ...nodesRef.current.map((n) => (n.selected ? { ...n, selected: false } : n)),
        ...pasted.nodes.map((n) => ({ ...toFlowNode(n), selected: fresh.has(n.id) })),
      ]);
      setEdges([...edgesRef.current.map((e) => (e.selected ? { ...e, selected: false } : e)), ...pasted.edges.map(toFlowEdge)]);
      return pasted.ids;
    },
    [beforeChange, current, setEdges, setNodes],
  );

  const selectAll = useCallback(() => {
    setNodes(nodesRef.current.map((n) => (n.selected ? n : { ...n, selected: true })));
    setEdges(edgesRef.current.map((e) => (e.selected ? e : { ...e, selected: true })));
  }, [setEdges, setNodes]);

  const selectOnly = useCallback(
    (ids: string[]) => {
      const wanted = new Set(ids);
      setNodes(nodesRef.current.map((n) => (!!n.selected === wanted.has(n.id) ? n : { ...n, selected: wanted.has(n.id) })));
      setEdges(edgesRef.current.map((e) => (e.selected ? { ...e, selected: false } : e)));
    },
    [setEdges, setNodes],
  );

  const undo = useCallback(() => {
    const result = undoHistory(historyRef.current, current());
    if (!result) return;
    setHist(result.history);
    apply(result.state);
  }, [apply, current, setHist]);

  const redo = useCallback(() => {
    const result = redoHistory(historyRef.current, current());
    if (!result) return;
    setHist(result.history);
    apply(result.state);
  }, [apply, current, setHist]);

  const layout = useCallback(
    async (sizes: Record<string, Size | undefined>) => {
      const graphNow = current();
      if (!graphNow.nodes.length) return;
      // dagre is loaded on first use: most sessions never press "Tidy up"
      const { autoLayout } = await import('../graph/layout');
      const positions = autoLayout(graphNow, sizes);
      beforeChange();
      setNodes(nodesRef.current.map((n) => (positions[n.id] ? { ...n, position: positions[n.id] } : n)));
    },
    [beforeChange, current, setNodes],
  );

  return {
    nodes,
    edges,
    graph,
    dirty,
    canUndo: canUndo(history),
    canRedo: canRedo(history),
    reset,
    replace,
    markSaved,
    onNodesChange,
    onEdgesChange,
    beforeChange,
    check,
    connect,
    checkReconnect,
    reconnect,
    addNode,
    updateNode,
    remove,
    copySelection,
    paste,
    selectAll,
    selectOnly,
    undo,
    redo,
    layout,
  };
}
