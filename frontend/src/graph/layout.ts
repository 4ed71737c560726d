// Auto-layout with dagre: ranks left to right along the edges, so a flow reads like a sentence.

import { Graph as DagreGraph, layout } from '@dagrejs/dagre';
import type { Graph, Position } from '../api/graph';
import { DEFAULT_NODE_SIZE, type Size } from './size';

export type { Size };

export interface LayoutOptions {
  direction?: 'LR' | 'TB';
  nodeSep?: number;
  rankSep?: number;
}

/** Top-left positions for every node, keeping the layout's top-left where the old one was. */
export function autoLayout(
  graph: Graph,
  sizes: Record<string, Size | undefined> = {},
  options: LayoutOptions = {},
): Record<string, Position> {
  if (graph.nodes.length === 0) return {};
  const g = new DagreGraph({ multigraph: true });
  g.setGraph({
    rankdir: options.direction ?? 'LR',
    nodesep: options.nodeSep ?? 48,
    ranksep: options.rankSep ?? 96,
    marginx: 0,
    marginy: 0,
  });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) {
    const size = sizes[node.id] ?? DEFAULT_NODE_SIZE;
    g.setNode(node.id, { width: size.width, height: size.height });
  }
  for (const edge of graph.edges) {
    if (!g.hasNode(edge.source) || !g.hasNode(edge.target)) continue;
    // delegate edges pull workers next to their manager without outranking the flow
    g.setEdge(edge.source, edge.target, { weight: edge.kind === 'delegate' ? 1 : 2, minlen: 1 }, edge.id);
  }
  layout(g);

  const originX = Math.min(...graph.nodes.map((n) => n.position.x));
  const originY = Math.min(...graph.nodes.map((n) => n.position.y));
  const result: Record<string, Position> = {};
  for (const node of graph.nodes) {
    const placed = g.node(node.id) as { x: number; y: number; width: number; height: number };
    result[node.id] = {
      x: Math.round(originX + placed.x - placed.width / 2),
      y: Math.round(originY + placed.y - placed.height / 2),
    };
  }
  return result;
}
