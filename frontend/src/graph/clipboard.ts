// Copy and paste of a selection, as pure functions over the graph JSON.

import type { Graph, GraphEdge, GraphNode } from '../api/graph';
import { nextEdgeId, nextId } from './ids';

export interface Fragment {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** The selected nodes and the edges that run between two of them. */
export function copyFragment(graph: Graph, selected: Iterable<string>): Fragment {
  const ids = new Set(selected);
  const nodes = graph.nodes.filter((n) => ids.has(n.id));
  const edges = graph.edges.filter((e) => ids.has(e.source) && ids.has(e.target));
  return structuredClone({ nodes, edges });
}

/**
 * The fragment with fresh ids (never clashing with the graph's), moved by `offset`, ready to be
 * appended. Returns the new node ids so the caller can select them.
 */
export function pasteFragment(
  fragment: Fragment,
  graph: Graph,
  offset: { x: number; y: number } = { x: 40, y: 40 },
): Fragment & { ids: string[] } {
  const takenNodes = new Set(graph.nodes.map((n) => n.id));
  const takenEdges = new Set(graph.edges.map((e) => e.id));
  const rename = new Map<string, string>();
  const nodes = fragment.nodes.map((node) => {
    const id = nextId(node.type, takenNodes);
    takenNodes.add(id);
    rename.set(node.id, id);
    return {
      ...structuredClone(node),
      id,
      position: { x: node.position.x + offset.x, y: node.position.y + offset.y },
    };
  });
  const edges: GraphEdge[] = [];
  for (const edge of fragment.edges) {
    const source = rename.get(edge.source);
    const target = rename.get(edge.target);
    if (!source || !target) continue;
    const id = nextEdgeId(takenEdges);
    takenEdges.add(id);
    edges.push({ ...edge, id, source, target });
  }
  return { nodes, edges, ids: nodes.map((n) => n.id) };
}

export function isFragment(value: unknown): value is Fragment {
  const v = value as Fragment | null;
  return !!v && Array.isArray(v.nodes) && Array.isArray(v.edges);
}
