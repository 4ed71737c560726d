import { describe, expect, it } from 'vitest';
import type { Graph } from '../api/graph';
import { research, team } from '../test/fixtures';
import { flowToGraph, graphKey, graphToFlow, normaliseGraph, structureKey } from './convert';
import { DELEGATE_HANDLE, TASK_HANDLE } from './handles';

describe('graph ↔ React Flow', () => {
  it('round-trips the research example without losing anything', () => {
    const { nodes, edges } = graphToFlow(research);
    const back = flowToGraph(nodes, edges);
    expect(back.nodes).toEqual(research.nodes);
    // edges come back with an explicit kind, and without the default handles
    expect(back.edges).toEqual(research.edges.map((e) => ({ kind: 'flow', ...e })));
    expect(graphToFlow(back)).toEqual({ nodes, edges });
  });

  it('round-trips delegate edges through the manager and worker delegation handles', () => {
    const { edges } = graphToFlow(team);
    const delegate = edges.find((e) => e.id === 'e2')!;
    expect(delegate).toMatchObject({ type: 'delegate', sourceHandle: DELEGATE_HANDLE, targetHandle: TASK_HANDLE, data: { kind: 'delegate' } });
    const flow = edges.find((e) => e.id === 'e5')!;
    expect(flow).toMatchObject({ type: 'flow', sourceHandle: 'approved', targetHandle: 'in' });
    // arrowheads are drawn by the edge component by state, not carried in the edge objects
    expect(flow.markerEnd).toBeUndefined();

    const back = flowToGraph(graphToFlow(team).nodes, edges);
    expect(back.edges.find((e) => e.id === 'e2')).toEqual({ id: 'e2', source: 'lead', target: 'res', kind: 'delegate' });
    expect(back.edges.find((e) => e.id === 'e5')).toEqual({ id: 'e5', source: 'gate', target: 'out', kind: 'flow', source_handle: 'approved' });
    expect(normaliseGraph(back)).toEqual(back);
  });

  it('drops what React Flow adds: selection, measurements, fractional drag positions', () => {
    const { nodes, edges } = graphToFlow(team);
    const touched = nodes.map((n) => ({ ...n, selected: true, measured: { width: 240, height: 80 }, position: { x: n.position.x + 0.123456, y: n.position.y } }));
    const back = flowToGraph(touched, edges.map((e) => ({ ...e, selected: true })));
    expect(back.nodes[0]).toEqual({ ...team.nodes[0], position: { x: 0.12, y: 0 } });
    expect(Object.keys(back.nodes[0]).sort()).toEqual(['config', 'id', 'label', 'position', 'type']);
    expect(Object.keys(back.edges[0]).sort()).toEqual(['id', 'kind', 'source', 'target']);
  });

  it('keeps non-default handles and fills in what a sparse graph leaves out', () => {
    const sparse = {
      nodes: [{ id: 'a', type: 'worker' }, { id: 'b', type: 'output', position: { x: 5, y: 6 } }],
      edges: [{ id: 'x', source: 'a', target: 'b', source_handle: 'error', target_handle: 'in' }],
    } as unknown as Graph;
    const graph = normaliseGraph(sparse);
    expect(graph.nodes[0]).toEqual({ id: 'a', type: 'worker', label: '', position: { x: 0, y: 0 }, config: {} });
    expect(graph.edges[0]).toEqual({ id: 'x', source: 'a', target: 'b', kind: 'flow', source_handle: 'error' });
  });

  it('gives equal graphs equal keys and different graphs different keys', () => {
    expect(graphKey(normaliseGraph(research))).toBe(graphKey(normaliseGraph(structuredClone(research))));
    const moved = structuredClone(research);
    moved.nodes[0].position.x += 16;
    expect(graphKey(normaliseGraph(moved))).not.toBe(graphKey(normaliseGraph(research)));
  });

  it('gives a moved node the same structure key, and a changed setting or edge another', () => {
    const moved = structuredClone(research);
    moved.nodes[0].position.x += 16;
    expect(structureKey(moved)).toBe(structureKey(research));
    const edited = structuredClone(research);
    edited.nodes[0].label = 'Renamed';
    expect(structureKey(edited)).not.toBe(structureKey(research));
    expect(structureKey({ ...research, edges: research.edges.slice(1) })).not.toBe(structureKey(research));
  });
});
