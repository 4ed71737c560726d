// Where a node added without a drop point goes: the wanted spot, or the nearest free one.

import type { Graph, Position } from '../api/graph';
import { DEFAULT_NODE_SIZE, type Size } from './size';

const ROWS = [0, 1, -1, 2, -2];

/** The first spot near `wanted` (same column first, then columns to the right) that no node covers. */
export function freeSpot(graph: Graph, wanted: Position, size: Size = DEFAULT_NODE_SIZE, gap = 24): Position {
  const clashes = (p: Position) =>
    graph.nodes.some((n) => Math.abs(n.position.x - p.x) < size.width + gap && Math.abs(n.position.y - p.y) < size.height + gap);
  for (let k = 0; k < 100; k += 1) {
    const column = Math.floor(k / ROWS.length);
    const candidate = {
      x: wanted.x + column * (size.width + gap * 2),
      y: wanted.y + ROWS[k % ROWS.length] * (size.height + gap),
    };
    if (!clashes(candidate)) return candidate;
  }
  return wanted;
}
