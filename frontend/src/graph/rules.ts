// Connection rules, checked while the user drags a connection (React Flow's isValidConnection),
// so a wrong edge is refused before it exists. They mirror the server's validation
// (runtime/validation.py `_edge_ends`, `_acyclic`); the server stays the final judge.
// rulesParity.test.ts and tests/runtime/test_rules_parity.py hold both to the same verdicts.

import {
  DEFAULT_SOURCE_HANDLE,
  DEFAULT_TARGET_HANDLE,
  type EdgeKind,
  type Graph,
  type GraphEdge,
  type NodeTypeSpec,
} from '../api/graph';
import { DELEGATE_HANDLE, TASK_HANDLE, canBeBody, delegatesToAny, sourceHandles } from './handles';

export interface Candidate {
  source: string | null;
  target: string | null;
  sourceHandle?: string | null;
  targetHandle?: string | null;
}

export type Catalogue = ReadonlyMap<string, NodeTypeSpec>;

/** Every reason a connection is refused; the parity cases (tests/fixtures/graph_rules_cases.json)
 * must cover each one. */
export const REFUSALS = [
  'incomplete',
  'self_loop',
  'unknown_node',
  'not_a_manager',
  'not_delegatable',
  'task_handle_needs_delegate',
  'no_inputs',
  'unknown_target_handle',
  'unknown_source_handle',
  'duplicate',
  'cycle',
] as const;

export type Refusal = (typeof REFUSALS)[number];

export interface Verdict {
  ok: boolean;
  reason?: Refusal;
  message?: string;
  kind?: EdgeKind;
}

function refuse(reason: Refusal, message: string): Verdict {
  return { ok: false, reason, message };
}

function labelOf(spec: NodeTypeSpec): string {
  return spec.label || spec.type;
}

/** True when `to` can be reached from `from` over existing edges (flow and delegate alike). */
export function reaches(graph: Graph, from: string, to: string): boolean {
  const next = new Map<string, string[]>();
  for (const edge of graph.edges) {
    const list = next.get(edge.source);
    if (list) list.push(edge.target);
    else next.set(edge.source, [edge.target]);
  }
  const seen = new Set<string>([from]);
  const stack = [from];
  while (stack.length) {
    const node = stack.pop()!;
    if (node === to) return true;
    for (const target of next.get(node) ?? []) {
      if (!seen.has(target)) {
        seen.add(target);
        stack.push(target);
      }
    }
  }
  return false;
}

function branchOf(edge: GraphEdge): string {
  return edge.source_handle || DEFAULT_SOURCE_HANDLE;
}

export function checkConnection(candidate: Candidate, graph: Graph, catalogue: Catalogue): Verdict {
  const { source, target } = candidate;
  if (!source || !target) return refuse('incomplete', 'Drop the connection on a handle.');
  if (source === target) return refuse('self_loop', 'A node cannot connect to itself.');
  const sourceNode = graph.nodes.find((n) => n.id === source);
  const targetNode = graph.nodes.find((n) => n.id === target);
  const sourceSpec = sourceNode && catalogue.get(sourceNode.type);
  const targetSpec = targetNode && catalogue.get(targetNode.type);
  if (!sourceNode || !targetNode || !sourceSpec || !targetSpec) {
    return refuse('unknown_node', 'One end of this connection is not a known node.');
  }

  const kind: EdgeKind = candidate.sourceHandle === DELEGATE_HANDLE ? 'delegate' : 'flow';
  if (kind === 'delegate') {
    if (!sourceSpec.can_delegate) {
      return refuse('not_a_manager', `A ${labelOf(sourceSpec)} cannot delegate.`);
    }
    // a map's or a loop's body may be any node that takes an input, dropped on any of its handles
    const body = delegatesToAny(sourceSpec);
    if (body && !canBeBody(targetSpec)) {
      return refuse('not_delegatable', `A ${labelOf(targetSpec)} takes no input: it cannot run once per item.`);
    }
    if (!body && !targetSpec.delegatable) {
      return refuse('not_delegatable', `A ${labelOf(targetSpec)} cannot take delegated tasks.`);
    }
    const onInput = body && !!candidate.targetHandle && targetSpec.inputs.includes(candidate.targetHandle);
    if (candidate.targetHandle && candidate.targetHandle !== TASK_HANDLE && !onInput) {
      return refuse('task_handle_needs_delegate', 'Delegate to the task handle at the top of a worker.');
    }
  } else {
    if (candidate.targetHandle === TASK_HANDLE) {
      return refuse(
        'task_handle_needs_delegate',
        'The task handle only takes delegations from a manager’s delegate handle.',
      );
    }
    if (targetSpec.inputs.length === 0) {
      return refuse('no_inputs', `A ${labelOf(targetSpec)} node has no inputs.`);
    }
    const targetHandle = candidate.targetHandle || DEFAULT_TARGET_HANDLE;
    if (!targetSpec.inputs.includes(targetHandle)) {
      return refuse('unknown_target_handle', `${targetNode.label || targetNode.id} has no input “${targetHandle}”.`);
    }
    const branch = candidate.sourceHandle || DEFAULT_SOURCE_HANDLE;
    const outputs = sourceHandles(sourceSpec, sourceNode.config ?? {});
    if (!outputs.includes(branch)) {
      return refuse('unknown_source_handle', `${sourceNode.label || sourceNode.id} has no output “${branch}”.`);
    }
  }

  const branch = kind === 'delegate' ? DEFAULT_SOURCE_HANDLE : candidate.sourceHandle || DEFAULT_SOURCE_HANDLE;
  const duplicate = graph.edges.some(
    (edge) =>
      edge.source === source &&
      edge.target === target &&
      (edge.kind ?? 'flow') === kind &&
      (kind === 'delegate' || branchOf(edge) === branch),
  );
  if (duplicate) return refuse('duplicate', 'These two are already connected this way.');

  // The server orders all nodes over flow and delegate edges together, so either kind may close a loop.
  if (reaches(graph, target, source)) {
    return refuse('cycle', 'That would make a loop; flows must not loop back.');
  }
  return { ok: true, kind };
}

/**
 * Moving one end of an existing edge (dragging it to another handle): the rules of a new
 * connection, judged on the graph without that edge, so putting it back where it was is no
 * duplicate, and a loop it would close is still refused.
 */
export function checkReconnection(edgeId: string, candidate: Candidate, graph: Graph, catalogue: Catalogue): Verdict {
  return checkConnection(candidate, { ...graph, edges: graph.edges.filter((e) => e.id !== edgeId) }, catalogue);
}

/** The graph edge a verified connection becomes. */
export function edgeFromConnection(id: string, candidate: Candidate, kind: EdgeKind): GraphEdge {
  const edge: GraphEdge = { id, source: candidate.source!, target: candidate.target!, kind };
  if (kind === 'flow') {
    if (candidate.sourceHandle && candidate.sourceHandle !== DEFAULT_SOURCE_HANDLE) {
      edge.source_handle = candidate.sourceHandle;
    }
    if (candidate.targetHandle && candidate.targetHandle !== DEFAULT_TARGET_HANDLE) {
      edge.target_handle = candidate.targetHandle;
    }
  }
  return edge;
}

/** Flow edges whose source handle no longer exists (a route was renamed or removed). */
export function danglingEdges(graph: Graph, catalogue: Catalogue): string[] {
  const result: string[] = [];
  // by id: a find per edge was 2 million comparisons for 1,000 nodes, on every render of the editor
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  for (const edge of graph.edges) {
    if ((edge.kind ?? 'flow') !== 'flow') continue;
    const node = byId.get(edge.source);
    const spec = node && catalogue.get(node.type);
    if (!node || !spec) continue;
    if (!sourceHandles(spec, node.config ?? {}).includes(branchOf(edge))) result.push(edge.id);
  }
  return result;
}

/** Nodes whose results a node's templates may read: its flow ancestors (nearest first). */
export function upstreamOf(graph: Graph, id: string): string[] {
  const result: string[] = [];
  const seen = new Set<string>([id]);
  let frontier = [id];
  while (frontier.length) {
    const next: string[] = [];
    for (const node of frontier) {
      for (const edge of graph.edges) {
        if (edge.target === node && (edge.kind ?? 'flow') === 'flow' && !seen.has(edge.source)) {
          seen.add(edge.source);
          result.push(edge.source);
          next.push(edge.source);
        }
      }
    }
    frontier = next;
  }
  return result;
}
