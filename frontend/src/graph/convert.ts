// Pure conversion between the graph JSON (what the server stores) and React Flow's nodes and
// edges (what the canvas renders). The graph is the source of truth: everything React Flow adds
// (selection, measurements, handle ids for delegate edges) is dropped on the way back.

import type { Edge, Node } from '@xyflow/react';
import {
  DEFAULT_SOURCE_HANDLE,
  DEFAULT_TARGET_HANDLE,
  type EdgeKind,
  type Graph,
  type GraphEdge,
  type GraphNode,
} from '../api/graph';
import { DELEGATE_HANDLE, TASK_HANDLE } from './handles';

export type StepData = {
  /** the node type in the catalogue ("worker", "router", …) */
  type: string;
  label: string;
  config: Record<string, unknown>;
};
export type StepNode = Node<StepData, 'step'>;

export type LinkData = { kind: EdgeKind };
export type LinkEdge = Edge<LinkData, 'flow' | 'delegate'>;

export function toFlowNode(node: GraphNode): StepNode {
  return {
    id: node.id,
    type: 'step',
    position: { x: node.position?.x ?? 0, y: node.position?.y ?? 0 },
    data: { type: node.type, label: node.label ?? '', config: node.config ?? {} },
  };
}

export function toFlowEdge(edge: GraphEdge): LinkEdge {
  const kind: EdgeKind = edge.kind === 'delegate' ? 'delegate' : 'flow';
  if (kind === 'delegate') {
    return {
      id: edge.id,
      source: edge.source,
      target: edge.target,
      sourceHandle: DELEGATE_HANDLE,
      targetHandle: TASK_HANDLE,
      type: 'delegate',
      data: { kind },
    };
  }
  return {
    id: edge.id,
    source: edge.source,
    target: edge.target,
    sourceHandle: edge.source_handle || DEFAULT_SOURCE_HANDLE,
    targetHandle: edge.target_handle || DEFAULT_TARGET_HANDLE,
    type: 'flow',
    // no markerEnd: FlowEdge draws its arrowhead in the colour of its run state
    data: { kind },
  };
}

export function graphToFlow(graph: Graph): { nodes: StepNode[]; edges: LinkEdge[] } {
  return {
    nodes: (graph.nodes ?? []).map(toFlowNode),
    edges: (graph.edges ?? []).map(toFlowEdge),
  };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

export function fromFlowNode(node: StepNode): GraphNode {
  return {
    id: node.id,
    type: node.data.type,
    label: node.data.label,
    position: { x: round(node.position.x), y: round(node.position.y) },
    config: node.data.config,
  };
}

export function fromFlowEdge(edge: Pick<LinkEdge, 'id' | 'source' | 'target' | 'sourceHandle' | 'targetHandle' | 'data' | 'type'>): GraphEdge {
  const kind: EdgeKind =
    edge.data?.kind ?? (edge.type === 'delegate' || edge.sourceHandle === DELEGATE_HANDLE ? 'delegate' : 'flow');
  const out: GraphEdge = { id: edge.id, source: edge.source, target: edge.target, kind };
  if (kind === 'flow') {
    // "out" and "in" are the defaults; leaving them out keeps saved graphs minimal and stable
    if (edge.sourceHandle && edge.sourceHandle !== DEFAULT_SOURCE_HANDLE) out.source_handle = edge.sourceHandle;
    if (edge.targetHandle && edge.targetHandle !== DEFAULT_TARGET_HANDLE) out.target_handle = edge.targetHandle;
  }
  return out;
}

export function flowToGraph(nodes: StepNode[], edges: LinkEdge[]): Graph {
  return { nodes: nodes.map(fromFlowNode), edges: edges.map(fromFlowEdge) };
}

/** The graph in the form flowToGraph produces: what a round trip must preserve. */
export function normaliseGraph(graph: Graph): Graph {
  const { nodes, edges } = graphToFlow(graph);
  return flowToGraph(nodes, edges);
}

/** A stable text form, to compare a canvas with what was last saved. */
export function graphKey(graph: Graph): string {
  return JSON.stringify(graph);
}

/** The graph without positions: what the server's validation depends on (moving a node needs no
 * new check). */
export function structureKey(graph: Graph): string {
  return JSON.stringify({
    nodes: graph.nodes.map(({ position: _p, ...rest }) => rest),
    edges: graph.edges,
  });
}
