import { describe, expect, it } from 'vitest';
import type { Graph } from '../api/graph';
import { freeSpot } from './place';

const at = (x: number, y: number) => ({ id: `n${x}_${y}`, type: 'worker', label: '', position: { x, y }, config: {} });

describe('placing a node without a drop point', () => {
  it('takes the wanted spot when it is free', () => {
    expect(freeSpot({ nodes: [at(1000, 1000)], edges: [] }, { x: 0, y: 0 })).toEqual({ x: 0, y: 0 });
  });

  it('moves below, then above, then to the next column when the spot is taken', () => {
    const g: Graph = { nodes: [at(10, 10)], edges: [] };
    expect(freeSpot(g, { x: 10, y: 10 })).toEqual({ x: 10, y: 122 });
    g.nodes.push(at(10, 122));
    expect(freeSpot(g, { x: 10, y: 10 })).toEqual({ x: 10, y: -102 });
    g.nodes.push(at(10, -102), at(10, 234), at(10, -214));
    expect(freeSpot(g, { x: 10, y: 10 })).toEqual({ x: 10 + 216 + 48, y: 10 });
    // a near miss counts as taken: cards must not touch
    expect(freeSpot({ nodes: [at(100, 50)], edges: [] }, { x: 0, y: 0 })).not.toEqual({ x: 0, y: 0 });
  });
});
